/** One JSON object per line on stdout: what log collectors on Kubernetes expect. */

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + "\n");
};

export function createLogger(sink: LogSink = stdoutSink): Logger {
  const write = (level: string, msg: string, fields?: LogFields): void => {
    sink(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
  };
  return {
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
  };
}
