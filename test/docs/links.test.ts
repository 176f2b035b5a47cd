import { existsSync, statSync } from "node:fs";
import * as path from "node:path";
import { anchorsOf, markdownFiles, readPage, ROOT, slug, withoutCode } from "./pages";

interface Link {
  readonly page: string;
  readonly target: string;
}

/** Every inline link and image of a page, outside code; web, mail and autolinks excluded. */
function relativeLinks(page: string): Link[] {
  const text = withoutCode(readPage(page)).replace(/`[^`\n]*`/g, "");
  return [...text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?: "[^"]*")?\)/g)]
    .map((match) => match[1] ?? "")
    .filter((target) => !/^[a-z][a-z+.-]*:/i.test(target))
    .map((target) => ({ page, target }));
}

/** What is wrong with a link, or undefined when it resolves. */
function problem({ page, target }: Link): string | undefined {
  const [file = "", anchor] = target.split("#", 2);
  const resolved = file === "" ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), decodeURI(file));
  if (!resolved.startsWith(ROOT + path.sep) && resolved !== ROOT) return `${page}: ${target} leaves the repository`;
  if (!existsSync(resolved)) return `${page}: ${target} points to a missing file`;
  if (anchor === undefined) return undefined;
  if (statSync(resolved).isDirectory() || !resolved.endsWith(".md")) return `${page}: ${target} has an anchor on a file that is not a page`;
  const anchors = anchorsOf(readPage(path.relative(ROOT, resolved)));
  return anchors.has(anchor) ? undefined : `${page}: ${target}: no heading makes the anchor #${anchor}`;
}

describe("the README and docs/ pages", () => {
  const pages = markdownFiles();

  it("include the index and every topic page", () => {
    for (const page of ["README.md", "docs/README.md", "docs/aws.md", "docs/existing-cluster.md", "docs/proxy.md", "docs/configuration.md", "docs/ci.md", "docs/benchmark.md", "docs/operations.md"]) {
      expect(pages).toContain(page);
    }
  });

  it.each(markdownFiles())("%s: every relative link points to an existing file and heading", (page) => {
    expect(relativeLinks(page).map(problem).filter((p) => p !== undefined)).toEqual([]);
  });

  it("the docs index links every page in docs/, and the README links the index and every topic page", () => {
    const index = relativeLinks("docs/README.md").map((link) => link.target.split("#")[0]);
    const front = relativeLinks("README.md").map((link) => link.target.split("#")[0]);
    for (const page of pages.filter((p) => p.startsWith("docs/") && p !== "docs/README.md")) {
      expect([page, index.includes(path.basename(page))]).toEqual([page, true]);
    }
    expect(front).toContain("docs/README.md");
    for (const page of pages.filter((p) => p.startsWith("docs/") && p !== "docs/README.md")) {
      expect(front).toContain(page);
    }
  });

  it("keeps the README to a few screens", () => {
    expect(readPage("README.md").split("\n").length).toBeLessThanOrEqual(250);
  });
});

describe("the link checker", () => {
  it("makes GitHub's anchors: code, punctuation and case dropped, repeats numbered", () => {
    expect(slug("Trying it locally: `npm run local`")).toBe("trying-it-locally-npm-run-local");
    expect(slug("kubectl or Pulumi gets `Unauthorized`")).toBe("kubectl-or-pulumi-gets-unauthorized");
    expect(slug("CI: a preview on every pull request, a deploy on every merge")).toBe("ci-a-preview-on-every-pull-request-a-deploy-on-every-merge");
    expect([...anchorsOf("# A\n## B\n```\n# not a heading\n```\n## B\n")]).toEqual(["a", "b", "b-1"]);
  });

  it("finds a missing file and a missing anchor", () => {
    expect(problem({ page: "README.md", target: "docs/nope.md" })).toMatch(/missing file/);
    expect(problem({ page: "README.md", target: "docs/aws.md#nope" })).toMatch(/no heading makes the anchor #nope/);
    expect(problem({ page: "docs/aws.md", target: "../README.md#set-up" })).toBeUndefined();
    expect(problem({ page: "docs/aws.md", target: "#prerequisites" })).toBeUndefined();
  });
});
