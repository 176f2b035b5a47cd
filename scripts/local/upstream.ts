/** What the sidecars go in front of: the vLLM emulator from the tests, one per replica, or the user's own server, probed first. */
import http from "node:http";
import https from "node:https";
import { VllmEmulator } from "../../test/upstream/emulator";

export const SEED_MODEL = "meta-llama/Llama-2-7b-chat-hf";
const PROBE_TIMEOUT_MS = 2_000;

/** The model servers behind the sidecars: one emulator per replica, or the user's one server. */
export interface ModelServers {
  /** One URL per replica. */
  readonly urls: readonly string[];
  /** What each sidecar is in front of, for the banner's first line. */
  readonly description: string;
  /** The model named in the printed commands. */
  readonly model: string;
  /** The readiness path for the sidecars (UPSTREAM_HEALTH_PATH). */
  readonly healthPath: string;
  /** The probe saw it answer (emulators: always): the replicas should turn ready at once. */
  readonly answered: boolean;
  readonly warnings: readonly string[];
  /** Turns emulators started not ready into ready ones (--replica-start-delay-ms); nothing for the user's server. */
  setReady(): void;
  close(): Promise<void>;
}

/**
 * `count` emulators on free loopback ports (only the sidecars are meant to reach them); quiet, as the
 * gateway logs every request. Not `ready`: they answer /health with 503 until setReady().
 */
export async function startEmulators(count: number, model: string | undefined, tokenDelayMs: number, ready: boolean): Promise<ModelServers> {
  const emulators: VllmEmulator[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(emulators.map((e) => e.close()));
  };
  try {
    for (let i = 0; i < count; i++) {
      const emulator = new VllmEmulator({ host: "127.0.0.1", port: 0, model: model ?? SEED_MODEL, tokenDelayMs, quiet: true, ready });
      emulators.push(emulator);
      await emulator.start();
    }
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  return {
    urls: emulators.map((e) => e.url),
    description: `${count === 1 ? "the" : "its own"} vLLM emulator (no GPU; answers like vLLM)`,
    model: model ?? SEED_MODEL,
    healthPath: "/health",
    answered: true,
    warnings: [],
    setReady: () => {
      for (const emulator of emulators) emulator.setReady(true);
    },
    close,
  };
}

interface Probe {
  /** HTTP status, or the connection error's code. */
  readonly outcome: number | string;
  readonly body: string;
}

/** One GET with node:http(s), not fetch: fetch refuses some ports (e.g. 6000) that a local server may use. */
function probe(url: string): Promise<Probe> {
  return new Promise((resolve) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    const req = get(url, { timeout: PROBE_TIMEOUT_MS, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < 1_000_000) body += chunk;
      });
      res.on("end", () => resolve({ outcome: res.statusCode ?? 0, body }));
      res.on("error", (error: NodeJS.ErrnoException) => resolve({ outcome: error.code ?? error.message, body: "" }));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: `no answer within ${PROBE_TIMEOUT_MS} ms` })));
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ outcome: error.code ?? error.message, body: "" }));
  });
}

/** Model ids from an OpenAI `/v1/models` list; empty when the body is something else. */
export function modelIds(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { data?: unknown };
    if (!Array.isArray(parsed.data)) return [];
    return parsed.data
      .map((entry: unknown) => (typeof entry === "object" && entry !== null ? (entry as { id?: unknown }).id : undefined))
      .filter((id): id is string => typeof id === "string");
  } catch {
    return [];
  }
}

const outcomeText = (outcome: number | string): string => (typeof outcome === "number" ? `HTTP ${outcome}` : outcome);

/**
 * Probes the user's server the way its sidecar will: `/health` must answer 200. Servers without it
 * (Ollama) get `/v1/models` as the readiness path, with a warning saying so.
 */
export async function externalUpstream(url: URL, model: string | undefined): Promise<ModelServers> {
  const base = url.href.replace(/\/+$/, "");
  const [health, models] = await Promise.all([probe(`${base}/health`), probe(`${base}/v1/models`)]);
  const ids = models.outcome === 200 ? modelIds(models.body) : [];
  const warnings: string[] = [];
  let healthPath = "/health";
  if (health.outcome !== 200 && models.outcome === 200) {
    healthPath = "/v1/models";
    warnings.push(
      `${base}/health answered ${outcomeText(health.outcome)}, not 200, but ${base}/v1/models answers 200 ` +
        `(Ollama and some other servers have no /health): the sidecar polls /v1/models for readiness instead (UPSTREAM_HEALTH_PATH=/v1/models).`,
    );
  } else if (health.outcome !== 200) {
    warnings.push(
      `${base} is not ready: /health gave ${outcomeText(health.outcome)} and /v1/models gave ${outcomeText(models.outcome)}. ` +
        `The gateway holds API calls until ${base}/health answers 200 (then 503 after the hold's bound); check that the server runs and that --upstream is its root URL.`,
    );
  }
  if (model !== undefined && ids.length > 0 && !ids.includes(model)) {
    warnings.push(`--model ${model} is not among the upstream's models (${ids.join(", ")}).`);
  }
  return {
    urls: [base],
    description: `your server at ${base}`,
    model: model ?? ids[0] ?? SEED_MODEL,
    healthPath,
    answered: health.outcome === 200 || models.outcome === 200,
    warnings,
    setReady: () => undefined,
    close: () => Promise.resolve(),
  };
}
