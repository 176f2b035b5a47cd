import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { BOTTLEROCKET_DATA_DEVICE, dataVolume } from "../../infra/aws/gpuNodePool";
import { CONFIG_KEYS, CONFIG_NAMESPACE, REMOVED_CONFIG_KEYS, parseSettings, settingsWarnings } from "../../stacks/config";
import { OBJECT_CONFIG_KEYS, PROJECT_MARKER, generatedFiles, regenerateDocs, regenerateProjectFile } from "../../stacks/configReference";
import { readStackConfig } from "../../stacks/render";
import { readPage, sectionOf } from "../docs/pages";
import { fakeReader } from "./fakeReader";

const ROOT = path.resolve(__dirname, "../..");
const projectText = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
const project = YAML.parse(projectText) as {
  name: string;
  main: string;
  config: Record<string, { type: string; default: unknown; description: string; items?: { type: string } }>;
};

/** Config from Pulumi.yaml's defaults (and a stack file), without the namespace, for fakeReader. */
function unqualified(values: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (key.startsWith(`${CONFIG_NAMESPACE}:`)) {
      out[key.slice(CONFIG_NAMESPACE.length + 1)] = value;
    }
  }
  return out;
}

describe("Pulumi.yaml", () => {
  test("is the vllm-auth project with its program in stacks/", () => {
    expect(project.name).toBe(CONFIG_NAMESPACE);
    expect(project.main).toBe("stacks/index.ts");
    expect(fs.existsSync(path.join(ROOT, project.main))).toBe(true);
  });

  test("declares every scalar and list key the program reads, and no other", () => {
    const declared = Object.keys(project.config).sort();
    const expected = CONFIG_KEYS.filter((k) => !OBJECT_CONFIG_KEYS.includes(k)).sort();
    expect(declared).toEqual(expected);
  });

  test("each declaration has a type Pulumi accepts, a default of that type and a description", () => {
    for (const [key, decl] of Object.entries(project.config)) {
      expect([key, ["string", "integer", "boolean", "array"].includes(decl.type)]).toEqual([key, true]);
      expect([key, typeof decl.description === "string" && decl.description.length > 10]).toEqual([key, true]);
      // Pulumi treats a declared key without a default as required.
      expect([key, decl.default !== undefined && decl.default !== null]).toEqual([key, true]);
      const ok =
        decl.type === "array"
          ? Array.isArray(decl.default) && decl.items?.type === "string" && (decl.default as unknown[]).every((v) => typeof v === "string")
          : typeof decl.default === (decl.type === "integer" ? "number" : decl.type);
      expect([key, ok]).toEqual([key, true]);
    }
  });

  test("object-valued keys, which Pulumi's schema cannot type, are documented in its comments", () => {
    for (const key of OBJECT_CONFIG_KEYS) {
      expect(projectText).toMatch(new RegExp(`^#\\s+${key}\\s+\\(`, "m"));
    }
  });

  test("gpuDiskGiB is the data volume the GPU launch template sizes, not the OS (root) volume", () => {
    expect(dataVolume(100).deviceName).toBe(BOTTLEROCKET_DATA_DEVICE);
    const description = project.config.gpuDiskGiB.description;
    expect(description).toContain(`data volume (${BOTTLEROCKET_DATA_DEVICE})`);
    expect(description).not.toMatch(/root volume/i);
  });

  test("its defaults give the same settings as the program's own defaults", () => {
    const fromProject = readStackConfig(path.join(ROOT, "Pulumi.yaml"), undefined);
    const a = parseSettings(fakeReader(unqualified(fromProject.values)));
    const b = parseSettings(fakeReader({}));
    expect(a).toEqual(b);
  });
});

describe("Pulumi.dev.yaml", () => {
  test("deploys the aws target in a region with the project defaults, and holds no secret", () => {
    const stackFile = path.join(ROOT, "Pulumi.dev.yaml");
    const config = readStackConfig(path.join(ROOT, "Pulumi.yaml"), stackFile);
    expect(config.secretKeys).toEqual([]);
    expect(config.values["aws:region"]).toBe("us-east-1");
    const settings = parseSettings(fakeReader(unqualified(config.values), { region: config.values["aws:region"] }));
    expect(settings.target).toBe("aws");
    expect(settings.aws.region).toBe("us-east-1");
    expect(fs.readFileSync(stackFile, "utf8")).toContain("config set --secret vllm-auth:hfToken");
  });
});

describe("generated from the schema", () => {
  test.each(generatedFiles(ROOT).map((f) => [f.file, f] as const))("%s is up to date (npm run gen:config writes it)", (_file, f) => {
    expect(f.current).toBe(f.generated);
  });

  test("a hand edit of Pulumi.yaml's config block is undone by the generator, and the part above it is kept", () => {
    const tampered = projectText.replace(/  gatewayReplicas:\n    type: integer\n    default: 2/, "  gatewayReplicas:\n    type: integer\n    default: 3");
    expect(tampered).not.toBe(projectText);
    expect(regenerateProjectFile(tampered)).toBe(projectText);
    const withBackend = projectText.replace("main: stacks/index.ts\n", "main: stacks/index.ts\nbackend:\n  url: file://~\n");
    expect(regenerateProjectFile(withBackend)).toBe(withBackend);
    expect(projectText).toContain(PROJECT_MARKER);
  });

  test("a hand edit of the reference table is undone by the generator", () => {
    const docs = readPage("docs/configuration.md");
    const tampered = docs.replace("| `gatewayReplicas` | integer, 1 to 20 | `2` |", "| `gatewayReplicas` | integer, 1 to 20 | `3` |");
    expect(tampered).not.toBe(docs);
    expect(regenerateDocs(tampered)).toBe(docs);
    expect(() => regenerateDocs("# no markers\n")).toThrow("docs/configuration.md has no <!-- generated:keys --> section");
  });
});

describe("docs/configuration.md", () => {
  const docs = readPage("docs/configuration.md");
  const keysTable = /<!-- generated:keys -->([\s\S]*?)<!-- \/generated:keys -->/.exec(docs)?.[1] ?? "";
  const row = (key: string) => keysTable.split("\n").find((l) => l.startsWith(`| \`${key}\``)) ?? "";

  test("documents every key the program reads, with its type, default, target and an example", () => {
    for (const key of CONFIG_KEYS) {
      expect([key, row(key).split(" | ").length]).toEqual([key, 6]);
    }
    expect(row("maxReplicas")).toBe(
      "| `maxReplicas` | integer, 1 to 100 | `2` | both | Most vLLM replicas, at least max(1, minReplicas); equal to minReplicas turns autoscaling off. | `4` |",
    );
    expect(row("hfToken")).toMatch(/^\| `hfToken` \(secret\) \| string \| unset \|/);
    expect(row("gpuCapacityTypes")).toContain("| list of `spot`, `on-demand` | `[\"spot\", \"on-demand\"]` | aws |");
  });

  test("its example of a failed preview is what the program prints for that config", () => {
    const example = /```text\n(Invalid configuration[\s\S]*?)```/.exec(docs)?.[1] ?? "";
    let actual = "";
    try {
      parseSettings(fakeReader({ replica: 3, maxReplicas: "two", allowedCidrs: ["2001:db8::/32"] }));
    } catch (err) {
      actual = (err as Error).message;
    }
    const lines = example.trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(actual.split("\n")).toHaveLength(4);
    lines.forEach((line, i) => expect(actual.split("\n")[i]).toMatch(new RegExp(`^${line.replace(/ \.\.\.$/, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`)));
  });

  test("lists every removed key with what to write instead", () => {
    for (const key of Object.keys(REMOVED_CONFIG_KEYS)) expect(docs).toMatch(new RegExp(`^\\| \`${key}\` \\| `, "m"));
  });

  test("the gpuDiskGiB row and the AWS page name the data volume, not the root volume", () => {
    expect(row("gpuDiskGiB")).toContain(`data volume (${BOTTLEROCKET_DATA_DEVICE})`);
    const gpuPools = /^\| GPU pools[^\n]*/m.exec(readPage("docs/aws.md"))?.[0] ?? "";
    for (const text of [row("gpuDiskGiB"), gpuPools]) {
      expect(text).toContain(BOTTLEROCKET_DATA_DEVICE);
      expect(text).toContain("data volume");
      expect(text).not.toMatch(/root volume|disk of each/i);
    }
  });

  test("says why IPv6 source ranges are refused, and states the driver the pinned vLLM image needs and the CUDA 12 way out", () => {
    expect(docs).toContain("unsupported v6 cidr ... when lb is not dualstack");
    expect(docs).toContain("driver 580 or newer");
    expect(docs).toContain("`vllm/vllm-openai:v0.29.0-cu129`");
    expect(docs).not.toMatch(/IPv4 or IPv6 CIDRs/);
  });
});

describe("the other pages", () => {
  test("the outputs table documents every stack output, and only those", () => {
    const program = fs.readFileSync(path.join(ROOT, project.main), "utf8");
    const exported = [...program.matchAll(/^export const (\w+)/gm)].map((m) => m[1]).sort();
    const outputs = sectionOf("docs/operations.md", "Outputs");
    const documented = [...outputs.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]).sort();
    expect(exported).toContain("clusterName");
    expect(documented).toEqual(exported);
  });

  test("the README shows the seed's three curl commands against pulumi stack output endpoint", () => {
    const usage = sectionOf("README.md", "Use the endpoint");
    expect(usage).toContain("curl -L http://$(pulumi stack output endpoint)/v1/models");
    expect(usage).toContain("curl -L http://$(pulumi stack output endpoint)/v1/chat/completions");
    expect(usage).toContain("curl --location-trusted http://$(pulumi stack output endpoint)/v1/chat/completions");
    expect(usage).toContain('-H "Authorization: Bearer $TOKEN"');
  });

  test("the README's one-minute local trial runs the same three commands against npm run local's endpoint", () => {
    const curls = (text: string) => [...text.matchAll(/^curl (?:[^\n]*\\\n)*[^\n]*/gm)].map((m) => m[0]);
    const deployed = curls(sectionOf("README.md", "Use the endpoint")).map((c) => c.replace("$(pulumi stack output endpoint)", "127.0.0.1:8080"));
    const local = curls(sectionOf("README.md", "Try it locally in one minute"));
    expect(deployed).toHaveLength(3);
    expect(local).toEqual(deployed);
  });

  test("the CPU trial's stack file is a valid existing-target config, once a removed replicas key is rewritten as its error says", () => {
    const existing = sectionOf("docs/existing-cluster.md", "A CPU-only trial on kind or minikube");
    const stackYaml = /cat > Pulumi\.kind\.yaml <<'EOF'\n([\s\S]*?)\nEOF/.exec(existing)![1];
    const stack = YAML.parse(stackYaml) as { config: Record<string, unknown> };
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stack.config)) values[k.replace(`${CONFIG_NAMESPACE}:`, "")] = v;
    if (values.replicas !== undefined) {
      expect(() => parseSettings(fakeReader(values))).toThrow(
        /^Invalid configuration \(1 problem\):\n  - vllm-auth:replicas: was replaced by minReplicas and maxReplicas\. For a fixed count write both to the same number/,
      );
      values.minReplicas = values.maxReplicas = values.replicas;
      delete values.replicas;
    }
    const reader = fakeReader(values);
    const settings = parseSettings(reader);
    expect(settings).toMatchObject({ target: "existing", gpusPerReplica: 0, model: "facebook/opt-125m", autoscaling: { minReplicas: 1, maxReplicas: 1 } });
    // A CPU build of vLLM and a public model: nothing to warn about.
    expect(settingsWarnings(settings, reader)).toEqual([]);
  });
});
