import { ConfigError, loadConfig } from "./config";
import { createLogger } from "./log";
import { startProxy } from "./server";
import { CredentialFileError } from "./keys/watchedFile";

/** Entry point of proxy/dist/server.js: environment in, listeners up, SIGTERM drains. */
async function main(): Promise<void> {
  const logger = createLogger();
  let proxy;
  try {
    proxy = await startProxy(loadConfig(process.env), { logger });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof CredentialFileError) {
      logger.error("startup_failed", { code: error.code, reason: error.message });
      process.stderr.write(`vllm-auth proxy: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const running = proxy;
  const stop = (signal: string): void => {
    logger.info("signal", { signal });
    void running.shutdown().then(() => process.exit(0));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

void main().catch((error: unknown) => {
  process.stderr.write(`vllm-auth proxy: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
