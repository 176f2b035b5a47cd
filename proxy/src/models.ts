import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UpstreamTarget } from "./upstream/target";

interface Copy {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
  readonly lastModified: string;
  /** Whole seconds, as Last-Modified and If-Modified-Since carry them. */
  readonly modifiedSeconds: number;
  readonly fetchedAt: number;
  /** Built from MODEL_ID before any upstream answered: replaced by the first real answer. */
  readonly synthesized: boolean;
}

function copyOf(body: Buffer, contentType: string, synthesized: boolean): Copy {
  const now = Date.now();
  const modifiedSeconds = Math.floor(now / 1000);
  return {
    body,
    contentType,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
    lastModified: new Date(modifiedSeconds * 1000).toUTCString(),
    modifiedSeconds,
    fetchedAt: synthesized ? 0 : now,
    synthesized,
  };
}

/** RFC 9110 13.1.2: If-None-Match uses weak comparison; `*` matches any current representation. */
function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  const opaque = etag.startsWith("W/") ? etag.slice(2) : etag;
  return header.split(",").some((candidate) => {
    const tag = candidate.trim();
    return (tag.startsWith("W/") ? tag.slice(2) : tag) === opaque;
  });
}

/**
 * The proxy's copy of the upstream's own `/v1/models` answer, byte for byte, refreshed while the
 * upstream is ready: the public model list never costs the GPU server a request, however many
 * anonymous clients ask. GET and HEAD are answered from it, with an ETag and Last-Modified so
 * conditional requests get 304.
 */
export class ModelsCopy {
  private copy: Copy | undefined;
  private refreshing: Promise<void> | undefined;

  /** `modelId`: answer with a minimal list for this model until the upstream has answered once. */
  constructor(modelId?: string) {
    if (modelId !== undefined) {
      const created = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({ object: "list", data: [{ id: modelId, object: "model", created, owned_by: "vllm", root: modelId, parent: null }] });
      this.copy = copyOf(Buffer.from(body), "application/json", true);
    }
  }

  get available(): boolean {
    return this.copy !== undefined;
  }

  /** Fetches a new copy from `target` when the current one is older than `maxAgeMs` (one fetch at a time). */
  refresh(target: UpstreamTarget, maxAgeMs: number, timeoutMs: number): Promise<void> {
    if (this.copy !== undefined && !this.copy.synthesized && Date.now() - this.copy.fetchedAt < maxAgeMs) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        const answer = await target.get("/v1/models", timeoutMs);
        const type = answer.contentType ?? "";
        // Only a real model list replaces the copy: an error page must not be served as one.
        if (answer.status === 200 && type.toLowerCase().startsWith("application/json") && answer.body.length > 0) {
          this.copy = copyOf(answer.body, type, false);
        }
      } catch {
        // The next readiness poll tries again; the last copy stays.
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** Answers a GET or HEAD from the copy; returns the body bytes sent, or undefined when there is no copy yet. */
  serve(req: IncomingMessage, res: ServerResponse): number | undefined {
    const copy = this.copy;
    if (copy === undefined) return undefined;
    const headers: Record<string, string | number> = {
      "content-type": copy.contentType,
      etag: copy.etag,
      "last-modified": copy.lastModified,
      "cache-control": "no-cache",
    };
    const ifNoneMatch = req.headers["if-none-match"];
    const ifModifiedSince = req.headers["if-modified-since"];
    const notModified =
      ifNoneMatch !== undefined
        ? noneMatch(ifNoneMatch, copy.etag)
        : ifModifiedSince !== undefined && Date.parse(ifModifiedSince) >= copy.modifiedSeconds * 1000;
    if (notModified) {
      res.writeHead(304, headers);
      res.end();
      return 0;
    }
    headers["content-length"] = copy.body.length;
    res.writeHead(200, headers);
    if (req.method === "HEAD") {
      res.end();
      return 0;
    }
    res.end(copy.body);
    return copy.body.length;
  }
}
