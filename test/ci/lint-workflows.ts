// Lints GitHub Actions workflows with GitHub's own parser (@actions/workflow-parser, the one behind
// the Actions language service) and prints one JSON report per file.
//   npx tsx test/ci/lint-workflows.ts .github/workflows/preview.yml [...]
// The parser ships only as an ES module, so it is loaded with import() rather than require().
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { WorkflowTemplate } from "@actions/workflow-parser";
import type { ActionStep, Job, RunStep, Step } from "@actions/workflow-parser/model/workflow-template";

export interface LintedStep {
  readonly id: string;
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
}

export interface LintedJob {
  readonly id: string;
  readonly if?: string;
  readonly needs: readonly string[];
  readonly environment: boolean;
  readonly steps: readonly LintedStep[];
}

export interface LintReport {
  readonly file: string;
  /** Schema, expression and context errors, each with file, line and column. */
  readonly errors: readonly string[];
  readonly events: readonly string[];
  readonly jobs: readonly LintedJob[];
}

function stepSummary(step: Step): LintedStep {
  const action = "uses" in step ? (step as ActionStep) : undefined;
  const run = "run" in step ? (step as RunStep) : undefined;
  const condition = "if" in step ? step.if?.expression : undefined;
  return {
    id: step.id,
    name: step.name?.toString(),
    uses: action?.uses.value,
    run: run?.run.toString(),
    if: condition,
  };
}

function jobSummary(job: WorkflowTemplate["jobs"][number]): LintedJob {
  const steps = job.type === "job" ? (job as Job).steps : [];
  return {
    id: job.id.value,
    if: job.if?.expression,
    needs: (job.needs ?? []).map((n) => n.value),
    environment: job.type === "job" && (job as Job).environment !== undefined,
    steps: steps.map(stepSummary),
  };
}

export async function lintWorkflow(file: string, content: string): Promise<LintReport> {
  const parser = await import("@actions/workflow-parser");
  const parsed = parser.parseWorkflow({ name: file, content }, new parser.NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (!parsed.value) return { file, errors: errors.length > 0 ? errors : ["the file holds no workflow"], events: [], jobs: [] };
  const template = await parser.convertWorkflowTemplate(parsed.context, parsed.value);
  const conversion = (template.errors ?? []).map((e) => e.Message).filter((m) => !errors.includes(m));
  return {
    file,
    errors: [...errors, ...conversion],
    events: Object.keys(template.events ?? {}),
    jobs: (template.jobs ?? []).map(jobSummary),
  };
}

async function main(files: readonly string[]): Promise<void> {
  const reports: LintReport[] = [];
  for (const file of files) reports.push(await lintWorkflow(path.basename(file), readFileSync(file, "utf8")));
  process.stdout.write(JSON.stringify(reports));
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  });
}
