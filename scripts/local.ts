/** `npm run local`: the cluster's two tiers on this machine, a gateway in front of sidecars in front of vLLM emulators or your own server. See --help. */
import { ConfigError } from "../proxy/src/config";
import { CredentialFileError } from "../proxy/src/keys/watchedFile";
import { checkNpmTookFlags, parseArgs, USAGE, UsageError } from "./local/args";
import { consoleLogger } from "./local/logger";
import { PortError } from "./local/ports";
import { startLocal, type LocalRun } from "./local/run";

/** Longest a stop may take: the gateway's 2 s grace for in-flight requests, the sidecars', then closing everything. */
const STOP_DEADLINE_MS = 8_000;

const stderrLine = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Exit code and message for a failed start: 2 for what the user typed, 1 for the machine. */
function failure(error: unknown): { code: number; message: string } {
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof CredentialFileError) return { code: 2, message: error.message };
  if (error instanceof PortError) return { code: 1, message: error.message };
  const errno = error as NodeJS.ErrnoException;
  if (errno.code === "EADDRINUSE" || errno.code === "EADDRNOTAVAIL" || errno.code === "EACCES") {
    return { code: 1, message: `cannot listen: ${errno.message}; pick other ports with --port N / --redirect-port N (0: any free port) or another --host` };
  }
  return { code: 1, message: error instanceof Error ? (error.stack ?? error.message) : String(error) };
}

async function main(argv: readonly string[]): Promise<void> {
  let command;
  try {
    checkNpmTookFlags(argv);
    command = parseArgs(argv);
  } catch (error) {
    const { code, message } = failure(error);
    stderrLine(`npm run local: ${message}`);
    process.exit(code);
  }
  if (command.kind === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  let run: LocalRun | undefined;
  let signalled = false;
  const finish = (): void => {
    if (run === undefined) return;
    const stopping = run;
    void stopping.stop().then(
      () => {
        stderrLine("npm run local: stopped");
        process.exit(0);
      },
      (error: unknown) => {
        stderrLine(`npm run local: stopping failed: ${failure(error).message}`);
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    // The terminal signals the whole group and npm (or tsx) forwards it too: one Ctrl-C can arrive twice, stop once.
    if (signalled) return;
    signalled = true;
    stderrLine(`npm run local: ${signal}, stopping`);
    // Stopping is bounded (2 s grace), so a hang here is a bug: do not leave the terminal stuck on it.
    setTimeout(() => {
      stderrLine("npm run local: did not stop in time; exiting");
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    finish();
  };
  // Listen before starting, so a Ctrl-C during start-up still stops everything and removes the temporary files.
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.once("exit", () => run?.credentials.remove());

  try {
    run = await startLocal(command.options, (source) => consoleLogger(stderrLine, source));
  } catch (error) {
    const { code, message } = failure(error);
    stderrLine(`npm run local: ${message}`);
    process.exit(code);
  }
  for (const warning of run.warnings) stderrLine(`npm run local: warning: ${warning}`);
  process.stdout.write(run.banner);
  if (signalled) finish();
}

void main(process.argv.slice(2));
