/** Reads the proxies' own Prometheus metrics: what a sidecar served, whether the limits store was up. */
import http from "node:http";

/** Sum of every sample of `name` whose labels include all of `labels` (Prometheus text format). */
export function sumMetric(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let labelText = "";
    let valueText: string;
    if (rest.startsWith("{")) {
      const close = rest.indexOf("}");
      if (close < 0) continue;
      labelText = rest.slice(1, close);
      valueText = rest.slice(close + 1);
    } else if (rest.startsWith(" ")) {
      valueText = rest;
    } else continue;
    const found: Record<string, string> = {};
    for (const match of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found[match[1]] = match[2];
    if (!Object.entries(labels).every(([label, value]) => found[label] === value)) continue;
    const value = Number(valueText.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/** GET /metrics on a proxy's metrics port. */
export function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/metrics", agent: false, timeout: 5_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`metrics on ${port}: status ${res.statusCode}`))));
    });
    req.on("timeout", () => req.destroy(new Error(`metrics on ${port}: no answer in 5 s`)));
    req.on("error", reject);
  });
}
