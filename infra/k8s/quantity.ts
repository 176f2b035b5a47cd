/** Kubernetes quantities as config writes them, and the bytes a memory quantity stands for. */

/** The Kubernetes quantities config accepts: no exponent (k8s.io/apimachinery resource.Quantity); number, suffix. */
export const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$/;

/** What each suffix multiplies by: decimal (k..E), binary (Ki..Ei), and m for thousandths. */
const SUFFIX: Readonly<Record<string, number>> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes of a Kubernetes memory quantity such as "256Mi", "1Gi", "512M" or "268435456". */
export function memoryBytes(quantity: string): number {
  const match = QUANTITY.exec(quantity.trim());
  if (match === null) throw new Error(`memory "${quantity}" is not a Kubernetes quantity. Write e.g. "256Mi" or "1Gi".`);
  return Number(match[1]) * (SUFFIX[match[2] ?? ""] ?? 1);
}
