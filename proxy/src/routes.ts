/**
 * The route table: exact (method, path) pairs. Anything not listed is 404 and never forwarded,
 * whatever the token: vLLM also serves /metrics, /tokenize, /pause, /collective_rpc, /invocations
 * and more, which either leak internals or let a caller change the server's state.
 */

export type Access = "public" | "protected" | "local";

export interface Route {
  /** A stable name for logs and metrics. */
  readonly name: string;
  readonly access: Access;
  /** Whether the request carries a body to forward. */
  readonly hasBody: boolean;
}

const route = (name: string, access: Access, hasBody: boolean): Route => Object.freeze({ name, access, hasBody });

const MODELS = route("models", "public", false);
const HEALTH = route("health", "local", false);

const TABLE: ReadonlyMap<string, Route> = new Map<string, Route>([
  // What the seed leaves public: listing models costs no GPU time.
  ["GET /v1/models", MODELS],
  ["HEAD /v1/models", MODELS],
  // Answered by the proxy itself: readiness of this replica, never forwarded.
  ["GET /health", HEALTH],
  ["HEAD /health", HEALTH],
  // Generation and embeddings: the endpoints that cost GPU time.
  ["POST /v1/chat/completions", route("chat_completions", "protected", true)],
  ["POST /v1/completions", route("completions", "protected", true)],
  ["POST /v1/embeddings", route("embeddings", "protected", true)],
  // The OpenAI Responses API: the same generation work behind the same token; only creation is
  // exposed (retrieval and cancellation by id take path parameters this exact-match table refuses).
  ["POST /v1/responses", route("responses", "protected", true)],
]);

/** Looks up one request; `undefined` means 404. */
export function findRoute(method: string | undefined, path: string): Route | undefined {
  return TABLE.get(`${method ?? ""} ${path}`);
}

/** Every route, for documentation and tests. */
export function listRoutes(): ReadonlyArray<readonly [string, Route]> {
  return [...TABLE.entries()];
}
