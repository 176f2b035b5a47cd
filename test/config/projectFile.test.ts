import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_KEYS, CONFIG_NAMESPACE, OBJECT_CONFIG_KEYS, parseSettings } from "../../stacks/config";
import { readStackConfig } from "../../stacks/render";
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
