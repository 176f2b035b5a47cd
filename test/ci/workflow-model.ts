import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import type { LintReport } from "./lint-workflows";

export const ROOT = path.resolve(__dirname, "../..");
export const WORKFLOWS = path.join(ROOT, ".github", "workflows");

export interface StepDoc {
  readonly id?: string;
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly with?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, unknown>>;
}

export interface JobDoc {
  readonly name?: string;
  readonly if?: string;
  readonly needs?: string | readonly string[];
  readonly permissions?: unknown;
  readonly environment?: string | { readonly name?: string; readonly url?: string };
  readonly concurrency?: { readonly group?: string; readonly "cancel-in-progress"?: boolean };
  readonly env?: Readonly<Record<string, unknown>>;
  readonly steps?: readonly StepDoc[];
}

export interface WorkflowDoc {
  readonly name?: string;
  readonly on: Readonly<Record<string, unknown>>;
  readonly permissions?: unknown;
  readonly concurrency?: { readonly group?: string; readonly "cancel-in-progress"?: boolean };
  readonly jobs: Readonly<Record<string, JobDoc>>;
}

export interface Workflow {
  readonly file: string;
  readonly text: string;
  readonly doc: WorkflowDoc;
}

export function loadWorkflow(file: string): Workflow {
  const text = readFileSync(path.join(WORKFLOWS, file), "utf8");
  return { file, text, doc: parse(text) as WorkflowDoc };
}

/** Runs the real linter in a child process (it is an ES module, which jest's CommonJS runtime cannot load). */
export function lint(files: readonly string[]): LintReport[] {
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "lint-workflows.ts"), ...files], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`workflow linter failed (${String(result.status)}):\n${result.stderr}`);
  return JSON.parse(result.stdout) as LintReport[];
}

export function job(workflow: Workflow, id: string): JobDoc {
  const found = workflow.doc.jobs[id];
  if (!found) throw new Error(`${workflow.file} has no job "${id}"`);
  return found;
}

export function steps(j: JobDoc): readonly StepDoc[] {
  return j.steps ?? [];
}

/** The steps that use an action, matched on `owner/repo` before the `@`. */
export function stepsUsing(j: JobDoc, action: string): readonly StepDoc[] {
  return steps(j).filter((s) => s.uses?.split("@")[0] === action);
}

export function onlyStepUsing(j: JobDoc, action: string): StepDoc {
  const found = stepsUsing(j, action);
  if (found.length !== 1) throw new Error(`expected one step using ${action}, found ${found.length}`);
  return found[0] as StepDoc;
}

/** Index of the first step matching, or -1. */
export function indexOf(j: JobDoc, match: (s: StepDoc) => boolean): number {
  return steps(j).findIndex(match);
}

export function needsOf(j: JobDoc): readonly string[] {
  return j.needs === undefined ? [] : typeof j.needs === "string" ? [j.needs] : j.needs;
}

/** `${{ vars.X }}` and `${{ secrets.X }}` names a workflow reads. */
export function contextNames(text: string, context: "vars" | "secrets"): readonly string[] {
  const names = [...text.matchAll(new RegExp(`\\b${context}\\.([A-Za-z_][A-Za-z0-9_]*)`, "g"))].map((m) => m[1] ?? "");
  return [...new Set(names)].sort();
}
