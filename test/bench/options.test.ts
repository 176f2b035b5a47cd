/** `npm run bench` options: a quick run never replaces the committed figures, and says its own are noisy. */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { COMMITTED_RESULTS, parseOptions, QUICK_NOTICE, QUICK_RESULTS, USAGE, type BenchOptions } from "../../bench/options";
import { checks, computeFigures, renderResults, type Machine } from "../../bench/report";
import { emptyCollected } from "../../bench/rounds";

const ROOT = path.resolve(__dirname, "../..");
const options = (argv: string[]): BenchOptions => {
  const parsed = parseOptions(argv, {});
  if (parsed === "help") throw new Error("expected options");
  return parsed;
};

test("a full run writes the committed bench/results.md; a quick one writes build/bench-quick.md, which git ignores", () => {
  expect(options([]).out).toBe(COMMITTED_RESULTS);
  expect(options(["--quick"]).out).toBe(QUICK_RESULTS);
  const ignored = execFileSync("git", ["check-ignore", "-v", QUICK_RESULTS], { cwd: ROOT, encoding: "utf8" });
  expect(ignored).toContain(QUICK_RESULTS);
});

test.each([["bench/results.md"], ["./bench/results.md"], ["bench/../bench/results.md"]])("--quick --out %s is refused", (out) => {
  expect(() => parseOptions(["--quick", "--out", out], {})).toThrow("--quick figures are noisy and must not replace bench/results.md");
});

test("npm run bench --quick (no --): npm kept --quick, and the run stops before five minutes of full rounds", () => {
  expect(() => parseOptions([], { npm_lifecycle_event: "bench", npm_config_quick: "true" })).toThrow("write npm run bench -- --quick");
});

test("a quick run's results file says first that its figures are noisy", () => {
  const machine: Machine = {
    cores: 2, cpuModel: "cpu", node: "v20", nginx: "1.22", kernel: "6", date: "2026-11-27", command: "npm run bench -- --quick",
    loadBefore: [0, 0, 0], pinning: "none", proxy: "proxy", settings: "quick", notice: QUICK_NOTICE,
  };
  const figures = computeFigures(emptyCollected());
  const text = renderResults(machine, figures, checks(figures), []);
  expect(text.split("\n").slice(0, 4)).toEqual(["# Benchmark results", "", `**${QUICK_NOTICE}**`, ""]);
});

describe("the rows of the flood, the two tiers and the per-key limits", () => {
  test("a full run: 500 flood connections, 4 pipelining connections of 100 GETs per write, 500 paying requests/s on 10 connections, 2000 limit pairs, 300 balancing requests over 3 replicas", () => {
    const full = options([]);
    expect(full.flood).toEqual({ pipelineConnections: 4, pipelineDepth: 100, manyConnections: 500 });
    expect(full.paying).toEqual({ connections: 10, rate: 500 });
    expect(full.limitPairs).toBe(2000);
    expect(full.balance).toEqual({ requests: 300, replicas: 3, events: 5, intervalMs: 10 });
    expect(full.chatLatencySeconds).toBe(4);
  });

  test("a quick run shrinks the counts of every new row", () => {
    const quick = options(["--quick"]);
    expect(quick.flood.manyConnections).toBe(200);
    expect(quick.limitPairs).toBe(300);
    expect(quick.balance.requests).toBe(60);
    expect(quick.chatLatencySeconds).toBe(2);
  });

  test("each count can be set, and --duration sets the one-connection chat row too", () => {
    const set = options(["--flood-conns", "1000", "--pipeline-depth", "300", "--paying-rate", "200", "--limit-pairs", "50", "--balance-requests", "90", "--duration", "3"]);
    expect(set.flood).toEqual({ pipelineConnections: 4, pipelineDepth: 300, manyConnections: 1000 });
    expect(set.paying.rate).toBe(200);
    expect(set.limitPairs).toBe(50);
    expect(set.balance.requests).toBe(90);
    expect(set.chatLatencySeconds).toBe(3);
  });

  test.each([
    [["--flood-conns", "0"], "--flood-conns must be a whole number of at least 1, got 0"],
    [["--flood-conns", "2.5"], "--flood-conns must be a whole number of at least 1, got 2.5"],
    [["--pipeline-depth", "1"], "--pipeline-depth must be a whole number of at least 2, got 1"],
    [["--paying-rate", "fast"], "--paying-rate must be a whole number of at least 1, got fast"],
    [["--limit-pairs=-3"], "--limit-pairs must be a whole number of at least 1, got -3"],
    [["--balance-requests", "12"], "--balance-requests must be a whole number of at least 30 (10 per replica"],
  ])("%j is refused with what to write", (argv, message) => {
    expect(() => parseOptions(argv, {})).toThrow(message);
  });

  test("npm run bench --flood-conns=900 (no --): npm kept it, and the message shows the line to type", () => {
    expect(() => parseOptions([], { npm_lifecycle_event: "bench", npm_config_flood_conns: "900" })).toThrow("write npm run bench -- --flood-conns 900");
  });

  test("--help lists every new flag", () => {
    for (const flag of ["--flood-conns", "--pipeline-depth", "--paying-rate", "--limit-pairs", "--balance-requests"]) expect(USAGE).toContain(flag);
  });
});
