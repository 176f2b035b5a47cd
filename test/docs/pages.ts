import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");

/** README.md and every page of docs/, as paths relative to the repository root. */
export function markdownFiles(): string[] {
  const pages = readdirSync(path.join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...pages];
}

/** A page's text; `page` is relative to the repository root, e.g. `docs/configuration.md`. */
export function readPage(page: string): string {
  return readFileSync(path.join(ROOT, page), "utf8");
}

/** The text with fenced code blocks blanked out, so `# comments` in them are not headings. */
export function withoutCode(text: string): string {
  return text.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, "");
}

/** A heading's text as GitHub renders it: links reduced to their text, no code backticks or emphasis. */
function headingText(raw: string): string {
  return raw.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*]/g, "").trim();
}

/** GitHub's anchor for a heading (github-slugger): lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return headingText(heading)
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a page's headings produce, with GitHub's -1, -2 suffixes for repeats. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of withoutCode(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = slug(match[1] ?? "");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/**
 * The text under the heading whose text is `heading` (any level), up to the next heading of the
 * same or a higher level. Throws when the page has no such heading, so a renamed section fails loudly.
 */
export function sectionOf(page: string, heading: string): string {
  const text = readPage(page);
  const lines = text.split("\n");
  let inFence = false;
  let start = -1;
  let level = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (/^(`{3,}|~{3,})/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const match = /^(#{1,6}) +(.+?) *$/.exec(line);
    if (!match) continue;
    const depth = match[1]?.length ?? 0;
    if (start === -1 && headingText(match[2] ?? "") === heading) {
      start = i + 1;
      level = depth;
    } else if (start !== -1 && depth <= level) {
      return lines.slice(start, i).join("\n");
    }
  }
  if (start === -1) throw new Error(`${page} has no heading "${heading}"`);
  return lines.slice(start).join("\n");
}
