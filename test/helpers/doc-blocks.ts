/**
 * Reading the code blocks and links of the Markdown docs, for test/docs.test.ts. Every fenced block
 * gets a plan: it is run, compared with a file, used as the expected output of the block before it,
 * or explicitly not run. A block that fits none of these is an error, so nothing is skipped silently.
 *
 * Marks are HTML comments on the line before a block (invisible on GitHub and npm):
 * - `<!-- not run: why -->` — the block is shown but not run (the reason is required);
 * - `<!-- output -->` — a `text` block: what the previous runnable block prints;
 * - `<!-- file: path -->` — the block is written to `path` in the sandbox (later blocks use it);
 * - `<!-- shipped: path -->` — the block is the content of `path` in the repository.
 *
 * Unmarked blocks by language: `ts`/`js` run as ESM programs; `sh` runs as one bash script that must
 * succeed; `console` is a session of `$ command` lines, each followed by the output it must print
 * (see {@link outputMismatch}) and ending in `# exit N` when it must fail with that code; `text` is
 * shown only (diagrams, synopses). Anything else must carry a mark.
 */

/** How a block takes part in the test. */
export type Plan =
  | { kind: 'program'; lang: 'ts' | 'js' }
  | { kind: 'shell' }
  | { kind: 'session' }
  | { kind: 'output' }
  | { kind: 'file'; path: string }
  | { kind: 'shipped'; path: string }
  | { kind: 'text' }
  | { kind: 'not-run'; reason: string };

/** One fenced code block of a Markdown file. */
export interface DocBlock {
  /** The Markdown file, relative to the repository root. */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  plan: Plan;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
const MARK = /^<!--\s*(not run|output|file|shipped)\s*(?::\s*(.*?))?\s*-->$/;
const LANGS: Record<string, Plan> = {
  ts: { kind: 'program', lang: 'ts' },
  typescript: { kind: 'program', lang: 'ts' },
  js: { kind: 'program', lang: 'js' },
  javascript: { kind: 'program', lang: 'js' },
  sh: { kind: 'shell' },
  bash: { kind: 'shell' },
  console: { kind: 'session' },
  text: { kind: 'text' },
};

/** The blocks of `markdown`, each with its plan; throws on an unmarked or wrongly marked block. */
export function blocksOf(doc: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !isClose(lines[j]!, fence!); j++) body.push(lines[j]!.slice(Math.min(indent!.length, leading(lines[j]!))));
    if (j === lines.length) throw new Error(`${doc}:${i + 1}: the code block is never closed`);
    const mark = markBefore(lines, i);
    blocks.push({ doc, line: i + 1, lang, code: body.join('\n'), plan: planOf(`${doc}:${i + 1}`, lang, mark) });
    i = j;
  }
  checkNoDanglingMarks(doc, lines, blocks);
  return blocks;
}

function isClose(line: string, fence: string): boolean {
  const trimmed = line.trim();
  return trimmed.startsWith(fence) && /^[`~]+$/.test(trimmed);
}

function leading(line: string): number {
  return line.length - line.trimStart().length;
}

function markBefore(lines: string[], fenceIndex: number): { name: string; arg: string } | undefined {
  let k = fenceIndex - 1;
  while (k >= 0 && lines[k]!.trim() === '') k--;
  const found = k >= 0 ? MARK.exec(lines[k]!.trim()) : null;
  return found ? { name: found[1]!, arg: found[2] ?? '' } : undefined;
}

function planOf(where: string, lang: string, mark: { name: string; arg: string } | undefined): Plan {
  if (mark?.name === 'not run') {
    if (!mark.arg) throw new Error(`${where}: "not run" needs a reason: <!-- not run: why -->`);
    return { kind: 'not-run', reason: mark.arg };
  }
  if (mark?.name === 'output') {
    if (lang !== 'text') throw new Error(`${where}: an output block must be a \`text\` block`);
    return { kind: 'output' };
  }
  if (mark?.name === 'file' || mark?.name === 'shipped') {
    if (!mark.arg) throw new Error(`${where}: <!-- ${mark.name}: path --> needs a path`);
    return { kind: mark.name, path: mark.arg };
  }
  const plan = LANGS[lang];
  if (!plan) {
    throw new Error(`${where}: a \`${lang || '(no language)'}\` block is neither run nor marked; use ts/js/sh/console/text or a mark (<!-- file: … -->, <!-- shipped: … -->, <!-- not run: … -->)`);
  }
  return plan;
}

/** A mark must sit right before a block: one that does not is a typo that would hide a block. */
function checkNoDanglingMarks(doc: string, lines: string[], blocks: DocBlock[]): void {
  const markedBlocks = new Set(blocks.filter((b) => ['not-run', 'output', 'file', 'shipped'].includes(b.plan.kind)).map((b) => b.line));
  let inFence: string | undefined;
  lines.forEach((line, i) => {
    const open = FENCE.exec(line);
    if (inFence) {
      if (isClose(line, inFence)) inFence = undefined;
      return;
    }
    if (open) {
      inFence = open[2];
      return;
    }
    if (/^<!--\s*(not run|output|file|shipped)\b/.test(line.trim()) || /^<!--\s*(skip|no-?test|norun)\b/i.test(line.trim())) {
      let k = i + 1;
      while (k < lines.length && lines[k]!.trim() === '') k++;
      if (!markedBlocks.has(k + 1)) throw new Error(`${doc}:${i + 1}: a mark that is not right before a code block (or misspelt): ${line.trim()}`);
    }
  });
}

/** The commands of a `console` block: `$ ` lines (with `\` continuations), the expected output and exit code. */
export function sessionOf(block: DocBlock): Array<{ command: string; expected: string; exit: number }> {
  const steps: Array<{ command: string; expected: string[]; exit: number }> = [];
  const lines = block.code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('$ ')) {
      let command = line.slice(2);
      while (command.endsWith('\\') && i + 1 < lines.length) command = `${command.slice(0, -1)}\n${lines[++i]}`;
      const exit = /#\s*exit (\d+)\s*$/.exec(command);
      steps.push({ command, expected: [], exit: exit ? Number(exit[1]) : 0 });
    } else if (steps.length === 0) {
      if (line.trim() !== '') throw new Error(`${block.doc}:${block.line}: a console block starts with a \`$ \` command`);
    } else {
      steps.at(-1)!.expected.push(line);
    }
  }
  return steps.map((s) => ({ ...s, expected: s.expected.join('\n') }));
}

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

function normalise(text: string): string[] {
  return text
    .replace(ANSI, '')
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter((line) => line !== '');
}

function lineRegex(expected: string): RegExp {
  const parts = expected.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*?')}$`);
}

/**
 * Whether `actual` output matches the `expected` text shown in a doc. Whitespace runs and blank
 * lines do not count, `…` in a line stands for any text (ids, times, checksums), and a line that
 * is only `...` for any number of lines. Returns undefined on a match, else what differs.
 */
export function outputMismatch(expected: string, actual: string): string | undefined {
  const want = normalise(expected);
  const got = normalise(actual);
  const memo = new Map<string, boolean>();
  const match = (w: number, g: number): boolean => {
    const key = `${w},${g}`;
    if (memo.has(key)) return memo.get(key)!;
    let ok: boolean;
    if (w === want.length) ok = g === got.length;
    else if (want[w] === '...') ok = match(w + 1, g) || (g < got.length && match(w, g + 1));
    else ok = g < got.length && lineRegex(want[w]!).test(got[g]!) && match(w + 1, g + 1);
    memo.set(key, ok);
    return ok;
  };
  if (match(0, 0)) return undefined;
  return `expected (… = anything, ... = any lines):\n${want.join('\n')}\n\nactual:\n${got.join('\n')}`;
}

/** GitHub's anchor for a heading text. */
export function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The lines of a Markdown file outside its fenced code blocks. */
function* proseLines(markdown: string): Generator<string> {
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const open = FENCE.exec(line);
    if (fence) {
      if (isClose(line, fence)) fence = undefined;
      continue;
    }
    if (open) {
      fence = open[2];
      continue;
    }
    yield line;
  }
}

/** The anchors of a Markdown file's headings (outside code blocks), duplicates numbered as GitHub does. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = slugOf(heading[1]!);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** The relative link targets of a Markdown file (outside code blocks and inline code). */
export function linksOf(markdown: string): string[] {
  const links: string[] = [];
  for (const line of proseLines(markdown)) {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (!/^(https?:|mailto:)/.test(target!)) links.push(target!);
    }
  }
  return links;
}
