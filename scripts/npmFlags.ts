/**
 * `npm run <script> --flag value`, without `--`, hands `--flag` to npm itself: npm sets
 * `npm_config_flag` (to "true", or to what followed `=`) and passes only `value` on to the script.
 * These find the script's own flags that npm took, so the script can say to put `--` first.
 */

/** One of the script's flags as npm recorded it: `true`, or the value written with `=`. */
export interface FlagTakenByNpm {
  readonly name: string;
  readonly value: string;
}

/** The script's flags (names without dashes) that npm took for itself, when this is `npm run <script>`. */
export function flagsTakenByNpm(script: string, flags: readonly string[], env: NodeJS.ProcessEnv = process.env): FlagTakenByNpm[] {
  if (env.npm_lifecycle_event !== script) return [];
  return flags.flatMap((name) => {
    const value = env[`npm_config_${name.replace(/-/g, "_")}`];
    return value === undefined ? [] : [{ name, value }];
  });
}

/**
 * The command the user meant, `npm run <script> -- <flags>`, rebuilt from what npm kept: a value-taking
 * flag npm recorded as "true" gets the argument npm passed on, when that pairing is unambiguous.
 */
export function commandWithDashDash(
  script: string,
  taken: readonly FlagTakenByNpm[],
  passedOn: readonly string[],
  takesValue: (flag: string) => boolean,
  runner = "npm run",
): string {
  const needValue = taken.filter((t) => t.value === "true" && takesValue(t.name));
  const rest = [...passedOn];
  const pairs = needValue.length === 1 && rest.length >= 1;
  const flags = taken.map((t) => {
    if (t.value !== "true") return `--${t.name} ${t.value}`;
    if (!takesValue(t.name)) return `--${t.name}`;
    return `--${t.name} ${pairs ? (rest.shift() ?? "") : "<value>"}`;
  });
  return [runner, script, "--", ...flags, ...(pairs ? rest : passedOn)].join(" ");
}

/** The message for a script's flags npm took: what happened and the command to type instead. */
export function npmTookFlagsMessage(
  script: string,
  taken: readonly FlagTakenByNpm[],
  passedOn: readonly string[],
  takesValue: (flag: string) => boolean,
  runner = "npm run",
): string {
  const names = taken.map((t) => `--${t.name}`).join(", ");
  return (
    `npm took ${names} for itself (npm passes flags on to a script only after --), so ${taken.length === 1 ? "it" : "they"} never reached ` +
    `the script: write ${commandWithDashDash(script, taken, passedOn, takesValue, runner)}`
  );
}
