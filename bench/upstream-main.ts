/**
 * The request-rate rows' upstream, as its own process: the vLLM emulator answering at once
 * (no token delay), with its request record cleared every second so a long run stays flat.
 * Prints its URL on the first stdout line.
 */
import { VllmEmulator } from "../test/upstream/emulator";

const RESET_EVERY_MS = 1_000;

async function main(): Promise<void> {
  const emulator = new VllmEmulator({ host: "127.0.0.1", port: 0, tokenDelayMs: 0, quiet: true });
  await emulator.start();
  const timer = setInterval(() => emulator.reset(), RESET_EVERY_MS);
  process.stdout.write(`${emulator.url}\n`);
  const stop = (): void => {
    clearInterval(timer);
    void emulator.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
