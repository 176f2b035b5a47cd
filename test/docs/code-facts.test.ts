import { loadConfig } from "../../proxy/src/config";
import { readPage, sectionOf } from "./pages";

/** Every environment variable `loadConfig` looks at, whether or not it is set. */
function variablesRead(): string[] {
  const names = new Set<string>();
  const env = new Proxy({ TOKENS_FILE: "/dev/null" } as Record<string, string | undefined>, {
    get(target, name) {
      if (typeof name === "string") names.add(name);
      return target[name as string];
    },
  });
  loadConfig(env);
  return [...names].sort();
}

/** The first table of `text` whose header row starts with `header`, one string per row. */
function table(text: string, header: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line.startsWith(header));
  if (start === -1) return [];
  const end = lines.findIndex((line, i) => i > start && !line.startsWith("|"));
  return lines.slice(start, end === -1 ? undefined : end);
}

describe("docs/proxy.md", () => {
  it("has a row for every environment variable the proxy reads", () => {
    const rows = table(sectionOf("docs/proxy.md", "Variables"), "| Variable |");
    const documented = new Set(rows.flatMap((row) => [...(row.split(" | ")[0] ?? "").matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1])));
    const read = variablesRead();
    expect(read).toContain("UPSTREAM_URL");
    expect(read.filter((name) => !documented.has(name))).toEqual([]);
  });
});

describe("docs/benchmark.md", () => {
  it("shows the figures table of the committed bench/results.md", () => {
    const header = "| workload | measure |";
    const page = table(readPage("docs/benchmark.md"), header);
    expect(page.length).toBeGreaterThan(2);
    expect(page).toEqual(table(readPage("bench/results.md"), header));
  });
});
