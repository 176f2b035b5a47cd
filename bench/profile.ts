/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and ranks functions by self samples, as a share
 * of the samples where the process was not idle. Also: `tsx bench/profile.ts FILE [TOP]`.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface ProfileEntry {
  readonly name: string;
  readonly samples: number;
  /** Share of the busy (non-idle) samples, %. */
  readonly share: number;
  /** Self plus callees: share of busy samples under this function anywhere on the stack, %. */
  readonly totalShare: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly busySamples: number;
  readonly idleSamples: number;
  readonly top: readonly ProfileEntry[];
}

const IDLE = new Set(["(idle)"]);

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName === "" ? "(anonymous)" : functionName;
  if (url === "") return name;
  return `${name} ${path.basename(url)}:${lineNumber + 1}`;
}

export function summarizeProfile(file: string, topN = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (node === undefined) continue;
    if (IDLE.has(node.callFrame.functionName)) {
      idle++;
      continue;
    }
    busy++;
    const name = label(node);
    self.set(name, (self.get(name) ?? 0) + 1);
    // Count each function once per sample, however deep it recurses.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame === undefined) break;
      const frameName = label(frame);
      if (seen.has(frameName)) continue;
      seen.add(frameName);
      total.set(frameName, (total.get(frameName) ?? 0) + 1);
    }
  }
  const share = (n: number): number => (busy === 0 ? 0 : (100 * n) / busy);
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([name, samples]) => ({ name, samples, share: share(samples), totalShare: share(total.get(name) ?? 0) }));
  return { file, busySamples: busy, idleSamples: idle, top };
}

export function renderProfile(summary: ProfileSummary): string {
  const lines = [
    `${path.basename(summary.file)}: ${summary.busySamples} busy samples (${summary.idleSamples} idle)`,
    "",
    "| self % | incl. % | function |",
    "|---:|---:|---|",
    ...summary.top.map((entry) => `| ${entry.share.toFixed(1)} | ${entry.totalShare.toFixed(1)} | \`${entry.name}\` |`),
  ];
  return lines.join("\n");
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write("usage: tsx bench/profile.ts FILE.cpuprofile [TOP]\n");
    process.exit(2);
  }
  process.stdout.write(`${renderProfile(summarizeProfile(file, top === undefined ? 25 : Number(top)))}\n`);
}
