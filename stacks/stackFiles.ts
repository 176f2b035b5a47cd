/** The project's stacks, as their `Pulumi.<stack>.yaml` files name them. */
import * as fs from "fs";
import * as path from "path";
import { closest } from "./suggest";

const STACK_FILE = /^Pulumi\.([^.]+(?:\.[^.]+)*)\.ya?ml$/;

/** The stacks with a stack file in `root`, sorted. */
export function stackNames(root: string): string[] {
  return fs
    .readdirSync(root)
    .map((file) => STACK_FILE.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

/** The stack file of `stack`; for a stack without one, an error naming the stacks there are and the nearest. */
export function stackFile(root: string, stack: string): string {
  for (const ext of ["yaml", "yml"]) {
    const file = path.join(root, `Pulumi.${stack}.${ext}`);
    if (fs.existsSync(file)) return file;
  }
  const names = stackNames(root);
  const nearest = closest(stack, names);
  throw new Error(
    `no stack "${stack}": there is no Pulumi.${stack}.yaml. ` +
      (names.length === 0
        ? "No stack has a file yet; create one with: pulumi stack init <name>."
        : `The stacks here are ${names.join(", ")}. Did you mean --stack ${nearest}?`),
  );
}
