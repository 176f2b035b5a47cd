/** The part of autocannon 8's programmatic API the benchmark uses (the package ships no types). */
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  interface Options {
    url: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    /** Seconds before a request counts as timed out. */
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Requests per second from all connections together. */
    overallRate?: number;
  }

  interface Result {
    errors: number;
    timeouts: number;
    /** Seconds. */
    duration: number;
  }

  interface Instance extends EventEmitter {
    /** (client, statusCode, bytes, responseTime in milliseconds, with sub-millisecond precision) */
    on(event: "response", listener: (client: object, statusCode: number, bytes: number, responseTime: number) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    stop(): void;
  }

  function autocannon(options: Options, callback: (error: Error | null, result: Result) => void): Instance;

  namespace autocannon {
    export { Options, Result, Instance };
  }

  export = autocannon;
}
