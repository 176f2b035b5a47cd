/**
 * The request-rate rows' upstream, as its own process: the vLLM emulator answering at once
 * (no token delay), keeping no record of the requests (nothing reads them; kept, a front's
 * keep-alive connections held every request of a run in the emulator's heap, and its garbage
 * collections slowed the fronts with long-lived upstream connections more than nginx, whose
 * upstream connections last one request).
 * Prints its URL on the first stdout line.
 */
import { VllmEmulator } from "../test/upstream/emulator";

async function main(): Promise<void> {
  const emulator = new VllmEmulator({ host: "127.0.0.1", port: 0, tokenDelayMs: 0, quiet: true, retainRequests: false });
  await emulator.start();
  process.stdout.write(`${emulator.url}\n`);
  const stop = (): void => {
    void emulator.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
