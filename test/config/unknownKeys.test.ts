import { spawnSync } from "child_process";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_KEYS, ConfigError, parseSettings, pulumiConfigReader, unknownKeyProblem } from "../../stacks/config";
import { closest, editDistance } from "../../stacks/suggest";
import { fakeReader } from "./fakeReader";

const ROOT = path.resolve(__dirname, "../..");

function problemsOf(values: Record<string, unknown>): string[] {
  try {
    parseSettings(fakeReader(values));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error(`expected a config error for ${JSON.stringify(values)}`);
}

describe("edit distance", () => {
  test.each([
    ["replica", "replicas", 1],
    ["maxreplicas", "maxReplicas", 0],
    ["gpuInstanceType", "gpuInstanceTypes", 1],
    ["alowedCidrs", "allowedCidrs", 1],
    ["namsepace", "namespace", 1],
    ["", "abc", 3],
  ])("%s -> %s: %d", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });

  test("the closest candidate wins, the first of equals", () => {
    expect(closest("maxReplica", ["minReplicas", "maxReplicas"])).toBe("maxReplicas");
    expect(closest("x", [])).toBeUndefined();
    expect(closest("ab", ["ax", "xb"])).toBe("ax");
  });
});

describe("keys the program does not read", () => {
  test("a misspelt key is an error naming it and the nearest key, not silently ignored", () => {
    expect(problemsOf({ gatewayReplica: 3 })).toEqual(["vllm-auth:gatewayReplica: is not a key this program reads. Did you mean vllm-auth:gatewayReplicas?"]);
    expect(problemsOf({ maxreplicas: 3 })).toEqual(["vllm-auth:maxreplicas: is not a key this program reads. Did you mean vllm-auth:maxReplicas?"]);
    expect(problemsOf({ alowedCidrs: ["203.0.113.0/24"] })).toEqual([
      "vllm-auth:alowedCidrs: is not a key this program reads. Did you mean vllm-auth:allowedCidrs?",
    ]);
  });

  test("a misspelling of a removed key points at what replaced it", () => {
    expect(problemsOf({ replica: 3 })).toEqual([
      "vllm-auth:replica: is not a key this program reads. Did you mean vllm-auth:minReplicas or vllm-auth:maxReplicas? " +
        "(replicas was replaced by minReplicas and maxReplicas. For a fixed count write both to the same number, e.g. minReplicas: 2 and maxReplicas: 2; " +
        "for autoscaling, e.g. minReplicas: 1 and maxReplicas: 4.)",
    ]);
  });

  test("unknown keys come first, then every other problem, and the valid keys still parse", () => {
    const problems = problemsOf({ replica: 3, vllmImage: "vllm", gatewayReplicas: 0 });
    expect(problems.map((p) => p.split(": ")[0])).toEqual(["vllm-auth:replica", "vllm-auth:vllmImage", "vllm-auth:gatewayReplicas"]);
  });

  test("every key the program reads is accepted, set or blank", () => {
    expect(CONFIG_KEYS.length).toBeGreaterThan(40);
    expect(() => parseSettings(fakeReader(Object.fromEntries(CONFIG_KEYS.map((key) => [key, ""]))))).not.toThrow();
    expect(unknownKeyProblem("tokenCount")).toMatch(/^was replaced by apiKeys/);
  });

  test("the problem never echoes the unknown key's value", () => {
    expect(problemsOf({ hfTokn: "hf_supersecret" }).join("\n")).not.toContain("supersecret");
  });
});

describe("the engine's reader lists the stack's keys", () => {
  afterEach(() => pulumi.runtime.setAllConfig({}, []));

  test("from the config the program runs with (as under mocks and npm run render), namespaced keys only", () => {
    pulumi.runtime.setAllConfig({ "vllm-auth:replica": "3", "vllm-auth:target": "existing", "aws:region": "us-east-1", "kubernetes:context": "x" }, []);
    const reader = pulumiConfigReader();
    expect([...reader.keys()].sort()).toEqual(["replica", "target"]);
    expect(reader.get("replica")).toBe("3");
    expect(reader.awsRegion()).toBe("us-east-1");
  });

  test("from PULUMI_CONFIG, as the Node.js language host passes it (old `ns:config:key` spelling included)", () => {
    const script = [
      'const { pulumiConfigReader, parseSettings } = require("./stacks/config");',
      "const reader = pulumiConfigReader();",
      "let error = '';",
      "try { parseSettings(reader); } catch (e) { error = e.message; }",
      "process.stdout.write(JSON.stringify({ keys: [...reader.keys()].sort(), error }));",
    ].join("\n");
    const result = spawnSync(path.join(ROOT, "node_modules", ".bin", "tsx"), ["-e", script], {
      cwd: ROOT,
      encoding: "utf8",
      env: {
        ...process.env,
        PULUMI_CONFIG: JSON.stringify({ "vllm-auth:config:replica": "3", "vllm-auth:target": "aws", "aws:region": "eu-west-1" }),
        PULUMI_CONFIG_SECRET_KEYS: "[]",
      },
      timeout: 60_000,
    });
    expect(result.stderr).toBe("");
    const out = JSON.parse(result.stdout) as { keys: string[]; error: string };
    expect(out.keys).toEqual(["replica", "target"]);
    expect(out.error).toContain("vllm-auth:replica: is not a key this program reads. Did you mean vllm-auth:minReplicas or vllm-auth:maxReplicas?");
  }, 60_000);
});
