import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../proxy/src/config";
import { createLogger } from "../../proxy/src/log";
import { startProxy } from "../../proxy/src/server";
import { VllmEmulator } from "../upstream/emulator";

function listenOn(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

const closeServer = (server: net.Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

describe("start-up failures", () => {
  test("a taken metrics port fails start-up and releases the API port it had already bound", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "vllm-auth-start-"));
    const tokensFile = path.join(dir, "tokens");
    writeFileSync(tokensFile, "tok_start_failure_0123456789abcdef\n");
    const upstream = new VllmEmulator({ quiet: true });
    await upstream.start();
    const blocker = net.createServer();
    const taken = await listenOn(blocker, 0);
    const probe = net.createServer();
    const apiPort = await listenOn(probe, 0);
    await closeServer(probe);
    try {
      const config = loadConfig({ UPSTREAM_URL: upstream.url, TOKENS_FILE: tokensFile, HOST: "127.0.0.1", PORT: String(apiPort), METRICS_PORT: String(taken) });
      await expect(startProxy(config, { logger: createLogger(() => undefined) })).rejects.toMatchObject({ code: "EADDRINUSE" });
      // The failed start left no listener behind on the API port.
      const again = net.createServer();
      await expect(listenOn(again, apiPort)).resolves.toBe(apiPort);
      await closeServer(again);
    } finally {
      await closeServer(blocker);
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
