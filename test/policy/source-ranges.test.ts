import { checkSourceRangesNotOpen, checkSourceRangesSet, SOURCE_RANGES_ANNOTATION } from "../../infra/policy/checks/source-ranges";
import { service } from "./fixtures";

describe("policy 7: load-balancer source ranges", () => {
  it("passes explicit client ranges, from the spec or the annotation", () => {
    expect(checkSourceRangesSet(service())).toEqual([]);
    expect(checkSourceRangesNotOpen(service())).toEqual([]);
    const annotated = service({ loadBalancerSourceRanges: undefined }, { annotations: { [SOURCE_RANGES_ANNOTATION]: "198.51.100.0/24, 203.0.113.7/32" } });
    expect(checkSourceRangesSet(annotated)).toEqual([]);
  });

  it("is mandatory when the ranges are missing, and says where to set them", () => {
    for (const missing of [service({ loadBalancerSourceRanges: undefined }), service({ loadBalancerSourceRanges: [] })]) {
      const [message] = checkSourceRangesSet(missing);
      expect(message).toMatch(/no loadBalancerSourceRanges/);
      expect(message).toMatch(/allowedCidrs/);
    }
  });

  it("is advisory when the ranges are the whole internet", () => {
    const open = service({ loadBalancerSourceRanges: ["0.0.0.0/0", "::/0"] });
    expect(checkSourceRangesSet(open)).toEqual([]);
    const [message] = checkSourceRangesNotOpen(open);
    expect(message).toMatch(/admits 0.0.0.0\/0 and ::\/0/);
    expect(message).toMatch(/Narrow loadBalancerSourceRanges/);
  });

  it("concerns only LoadBalancer Services", () => {
    const internal = service({ type: "ClusterIP", loadBalancerSourceRanges: undefined });
    expect(checkSourceRangesSet(internal)).toEqual([]);
    expect(checkSourceRangesNotOpen(internal)).toEqual([]);
  });
});
