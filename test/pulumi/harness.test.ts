import { existingConfig, runProgram } from "./harness";

describe("runProgram", () => {
  test("leaves no process exit hook behind, so many runs in one file print no MaxListenersExceededWarning", async () => {
    const before = process.listenerCount("exit");
    await runProgram(existingConfig());
    expect(process.listenerCount("exit")).toBe(before);
    await runProgram(existingConfig());
    expect(process.listenerCount("exit")).toBe(before);
  });
});
