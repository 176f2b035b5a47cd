/** The tiers' logs, one short line per event on stderr: stdout stays the banner, readable at a glance. */
import type { LogFields, Logger } from "../../proxy/src/log";

/** Who wrote a line (`gateway`, `replica 2`) and the replicas' names by origin, so lines say `replica 2`, not a port. */
export interface LogSource {
  readonly label: string;
  readonly replicaNames?: ReadonlyMap<string, string>;
}

function fieldsText(fields: LogFields | undefined, source: LogSource): string {
  if (fields === undefined) return "";
  return Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => {
      const name = key === "replica" ? source.replicaNames?.get(String(value)) : undefined;
      return name === undefined ? ` ${key}=${String(value)}` : ` ${name} (${String(value)})`;
    })
    .join("");
}

/**
 * `request` lines read like an access log (fields that are absent are left out), with the key's
 * name, the replica that served it and the tokens metered; anything else is `level msg key=value ...`.
 */
export function formatLog(source: LogSource, level: string, msg: string, fields?: LogFields): string {
  if (msg === "request" && fields !== undefined) {
    const replica = fields.replica === undefined ? undefined : (source.replicaNames?.get(String(fields.replica)) ?? String(fields.replica));
    const tokens =
      fields.prompt_tokens === undefined && fields.completion_tokens === undefined
        ? undefined
        : `${String(fields.prompt_tokens ?? 0)}+${String(fields.completion_tokens ?? 0)} tokens`;
    const parts = [
      fields.listener === undefined ? undefined : `(${String(fields.listener)})`,
      fields.method,
      fields.path,
      fields.status,
      fields.outcome,
      fields.key === undefined ? undefined : `key=${String(fields.key)}`,
      replica === undefined ? undefined : `-> ${replica}`,
      fields.duration_ms === undefined ? undefined : `${String(fields.duration_ms)} ms`,
      fields.upstream_ms === undefined ? undefined : `(upstream ${String(fields.upstream_ms)} ms)`,
      tokens,
    ];
    return `[${source.label}] ${parts.filter((part) => part !== undefined).map(String).join(" ")}`;
  }
  return `[${source.label}] ${level === "info" ? "" : `${level} `}${msg}${fieldsText(fields, source)}`;
}

export function consoleLogger(write: (line: string) => void, source: LogSource): Logger {
  return {
    info: (msg, fields) => write(formatLog(source, "info", msg, fields)),
    warn: (msg, fields) => write(formatLog(source, "warn", msg, fields)),
    error: (msg, fields) => write(formatLog(source, "error", msg, fields)),
  };
}
