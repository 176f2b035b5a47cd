/** The real `openai` npm client pointed at the proxy, as an application would use it. */
import OpenAI from "openai";
import { MODEL, TOKEN, forwarded, startStack, type Stack } from "./harness";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.upstream.reset());

/** Authorization headers the client actually sent, per request. */
const sentAuthorization: Array<string | null> = [];

const recordingFetch: typeof fetch = (input, init) => {
  sentAuthorization.push(new Headers(init?.headers).get("authorization"));
  return fetch(input, init);
};

function client(apiKey: string, options: { omitAuthorization?: boolean } = {}): OpenAI {
  return new OpenAI({
    apiKey,
    baseURL: `${stack.url}/v1`,
    maxRetries: 0,
    timeout: 10_000,
    fetch: recordingFetch,
    defaultHeaders: options.omitAuthorization === true ? { Authorization: null } : undefined,
  });
}

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: "user", content: "Who are you?" }];

describe("public model listing", () => {
  test("models.list() works with no Authorization header at all", async () => {
    sentAuthorization.length = 0;
    const page = await client("unused", { omitAuthorization: true }).models.list();
    expect(sentAuthorization).toEqual([null]);
    expect(page.data.map((m) => m.id)).toEqual([MODEL]);
    expect(page.data[0].owned_by).toBe("vllm");
  });

  test("models.list() works with a key that is not valid", async () => {
    const page = await client("sk-not-a-real-key").models.list();
    expect(page.data[0].id).toBe(MODEL);
  });

  test("models.list() works with the valid key", async () => {
    const page = await client(TOKEN).models.list();
    expect(page.data[0].id).toBe(MODEL);
  });
});

describe("protected endpoints", () => {
  async function expectAuthenticationError(openai: OpenAI): Promise<void> {
    const attempt = openai.chat.completions.create({ model: MODEL, messages });
    await expect(attempt).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const error = await attempt.catch((e: unknown) => e);
    if (!(error instanceof OpenAI.AuthenticationError)) throw new Error("expected an AuthenticationError");
    expect(error.status).toBe(401);
    expect(error.message).toContain("Invalid authentication credentials");
    expect(error.headers.get("www-authenticate")).toBe("Bearer");
  }

  test("chat.completions.create with a wrong key raises AuthenticationError (401) and reaches nothing", async () => {
    await expectAuthenticationError(client("sk-wrong-key-0123456789abcdef"));
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("chat.completions.create with no Authorization header raises AuthenticationError", async () => {
    sentAuthorization.length = 0;
    await expectAuthenticationError(client("unused", { omitAuthorization: true }));
    expect(sentAuthorization.every((value) => value === null)).toBe(true);
    expect(forwarded(stack)).toHaveLength(0);
  });

  test("chat.completions.create with the key returns the assistant's reply", async () => {
    const completion = await client(TOKEN).chat.completions.create({ model: MODEL, messages });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0].message.role).toBe("assistant");
    expect(completion.choices[0].message.content).toMatch(/^Hello! I'm LLaMA/);
    expect(completion.choices[0].finish_reason).toBe("stop");
    expect(forwarded(stack)[0].headers.authorization).toBeUndefined();
  });

  test("a streamed chat completion yields the same text, chunk by chunk, and ends with a finish reason", async () => {
    const openai = client(TOKEN);
    const whole = await openai.chat.completions.create({ model: MODEL, messages });
    const stream = await openai.chat.completions.create({ model: MODEL, messages, stream: true });
    const pieces: string[] = [];
    const finishes: Array<string | null> = [];
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      const choice = chunk.choices[0];
      if (choice.delta.content) pieces.push(choice.delta.content);
      finishes.push(choice.finish_reason);
    }
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join("")).toBe(whole.choices[0].message.content);
    expect(finishes[finishes.length - 1]).toBe("stop");
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
  });

  test("completions.create with the key returns text", async () => {
    const completion = await client(TOKEN).completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 5 });
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0].text.split(" ")).toHaveLength(5);
    expect(completion.choices[0].finish_reason).toBe("length");
  });

  test("embeddings.create with the key returns one vector per input", async () => {
    const result = await client(TOKEN).embeddings.create({ model: MODEL, input: ["first", "second"] });
    expect(result.data.map((d) => d.index)).toEqual([0, 1]);
    for (const item of result.data) {
      expect(item.embedding.length).toBeGreaterThan(0);
      expect(item.embedding.every((v) => typeof v === "number")).toBe(true);
    }
  });

  test("completions.create and embeddings.create without the key raise AuthenticationError", async () => {
    const openai = client("sk-wrong-key-0123456789abcdef");
    await expect(openai.completions.create({ model: MODEL, prompt: "x" })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(openai.embeddings.create({ model: MODEL, input: "x" })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    expect(forwarded(stack)).toHaveLength(0);
  });
});
