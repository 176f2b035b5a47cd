/** `npm run bench` options: a quick run never replaces the committed figures, and says its own are noisy. */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { COMMITTED_RESULTS, parseOptions, QUICK_NOTICE, QUICK_RESULTS, type BenchOptions } from "../../bench/options";
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
