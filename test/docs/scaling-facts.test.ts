import {
  IN_CLUSTER_PROMETHEUS_URL,
  KEDA_CHART_VERSION,
  KUBE_PROMETHEUS_STACK_CHART_VERSION,
  PRESTOP_SECONDS,
  PROMETHEUS_RETENTION,
  SCALE_DOWN_PERIOD_SECONDS,
  SCRAPE_INTERVAL,
  SHUTDOWN_GRACE_MS,
  TERMINATION_GRACE_SECONDS,
  demandQuery,
} from "../../infra/k8s";
import { DEFAULT_HOLD_MAX } from "../../proxy/src/config";
import { readPage } from "./pages";

const scaling = readPage("docs/scaling.md");
const monitoring = readPage("docs/monitoring.md");
/** Prose with line breaks as spaces, so that rewrapping a paragraph does not fail a test. */
const flat = (text: string) => text.replace(/\s+/g, " ");

describe("docs/scaling.md and docs/monitoring.md say what the code does", () => {
  it("name the pinned chart versions", () => {
    expect(scaling).toContain(`\`kedacore/keda\` **${KEDA_CHART_VERSION}**`);
    expect(monitoring).toContain(`\`prometheus-community/kube-prometheus-stack\` **${KUBE_PROMETHEUS_STACK_CHART_VERSION}**`);
  });

  it("show the demand query KEDA runs", () => {
    const shown = demandQuery("<ns>").replace(" + ", "\n  + ");
    expect(scaling).toContain(shown);
    expect(monitoring).toContain(shown);
  });

  it("give the drain, grace, scale-down and scrape figures of the pod spec and the ScaledObject", () => {
    expect(flat(scaling)).toContain(`(${PRESTOP_SECONDS} s)`);
    expect(flat(scaling)).toContain(`(${SHUTDOWN_GRACE_MS / 1000} s)`);
    expect(flat(scaling)).toContain(`\`terminationGracePeriodSeconds\` (${TERMINATION_GRACE_SECONDS} s)`);
    expect(flat(scaling)).toContain(`at most 1 pod per ${SCALE_DOWN_PERIOD_SECONDS} s`);
    expect(flat(monitoring)).toContain(`every ${SCRAPE_INTERVAL.replace("s", " s")}`);
    expect(flat(monitoring)).toContain(`${PROMETHEUS_RETENTION.replace("d", " days")}`);
  });

  it("give the gateway's hold bounds and its Retry-After values", () => {
    const holding = readPage("proxy/src/upstream/holding.ts");
    const retryAfter = (reason: string) => holding.match(new RegExp(`HoldRefusedError\\("${reason}", (\\d+)\\)`))?.[1];
    expect(scaling).toContain(`at most ${DEFAULT_HOLD_MAX} requests`);
    expect(scaling).toContain(`(${retryAfter("timeout")} s
after a timeout, ${retryAfter("overflow")} s when the hold queue is full)`);
  });

  it("give the port-forward target the chart creates", () => {
    const service = new URL(IN_CLUSTER_PROMETHEUS_URL).hostname.split(".")[0];
    expect(monitoring).toContain(`port-forward svc/${service} 9090:9090`);
  });
});
