/** vLLM-shaped streams for the meter's tests, built with the emulator's own shapes. */
import { completionBody, planGeneration, streamEvents, type GenerationKind, type GenerationPlan } from "../upstream/vllm-shapes";

export const FINGERPRINT = "vllm-0.29.0-13ff2e7e";

export interface Asked {
  readonly includeUsage: boolean;
  readonly continuousUsage: boolean;
}

export const NOTHING: Asked = { includeUsage: false, continuousUsage: false };
export const INCLUDE: Asked = { includeUsage: true, continuousUsage: false };
export const CONTINUOUS: Asked = { includeUsage: true, continuousUsage: true };

/** One generation; `tokens` decides its length, `promptTokens` its prompt. */
export function generation(kind: GenerationKind, tokens: number, promptTokens = 7, fingerprint: string | null = FINGERPRINT): GenerationPlan {
  const request = { kind, model: "meta-llama/Llama-2-7b-chat-hf", stream: true, ...NOTHING, promptTokens };
  return planGeneration(request, tokens, fingerprint);
}

/** The same generation as vLLM would stream it for a client that asked `asked`. */
export function streamFor(plan: GenerationPlan, asked: Asked): string[] {
  return streamEvents({ ...plan, request: { ...plan.request, ...asked } }).map((e) => e.text);
}

export function bodyFor(plan: GenerationPlan): string {
  return JSON.stringify(completionBody({ ...plan, request: { ...plan.request, stream: false } }));
}
