/** The proxy's log, one short line per event on stderr: stdout stays the banner, readable at a glance. */
import type { LogFields, Logger } from "../../proxy/src/log";

function fieldsText(fields: LogFields | undefined): string {
  if (fields === undefined) return "";
  return Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}=${String(value)}`)
    .join("");
}

/** `request` lines read like an access log (fields that are absent are left out); anything else is `level msg key=value ...`. */
export function formatLog(level: string, msg: string, fields?: LogFields): string {
  if (msg === "request" && fields !== undefined) {
    const parts = [
      fields.listener === undefined ? undefined : `(${String(fields.listener)})`,
      fields.method,
      fields.path,
      fields.status,
      fields.outcome,
      fields.duration_ms === undefined ? undefined : `${String(fields.duration_ms)} ms`,
      fields.upstream_ms === undefined ? undefined : `(upstream ${String(fields.upstream_ms)} ms)`,
    ];
    return `[proxy] ${parts.filter((part) => part !== undefined).map(String).join(" ")}`;
  }
  return `[proxy] ${level === "info" ? "" : `${level} `}${msg}${fieldsText(fields)}`;
}

export function consoleLogger(write: (line: string) => void): Logger {
  return {
    info: (msg, fields) => write(formatLog("info", msg, fields)),
    warn: (msg, fields) => write(formatLog("warn", msg, fields)),
    error: (msg, fields) => write(formatLog("error", msg, fields)),
  };
}
