import { ConfigReader } from "../../stacks/config";

/** A ConfigReader over plain values: keys without namespace, values as the CLI passes them (JSON for lists). */
export function fakeReader(values: Record<string, unknown>, options: { secret?: string[]; region?: string } = {}): ConfigReader {
  const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  return {
    get: (key) => (values[key] === undefined ? undefined : text(values[key])),
    isSecret: (key) => options.secret?.includes(key) ?? false,
    awsRegion: () => options.region,
    keys: () => Object.keys(values).filter((key) => values[key] !== undefined),
  };
}
