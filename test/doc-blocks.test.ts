/**
 * The docs test's reader (test/helpers/doc-blocks.ts) must fail loudly: an unmarked block, a mark
 * without a block, or output that differs from what a doc shows are errors, never skipped.
 */
import { describe, expect, it } from 'vitest';
import { anchorsOf, blocksOf, linksOf, outputMismatch, sessionOf } from './helpers/doc-blocks.js';

const fence = '```';

describe('blocksOf', () => {
  it('plans each block by its language or its mark', () => {
    const md = [
      `${fence}ts`, 'const a = 1;', fence,
      '<!-- output -->', `${fence}text`, '1', fence,
      '<!-- file: config/x.yaml -->', `${fence}yaml`, 'a: 1', fence,
      '<!-- not run: needs a terminal -->', `${fence}sh`, 'vim config/current.yaml', fence,
      `${fence}console`, '$ config-persistence get a', '1', fence,
    ].join('\n');
    expect(blocksOf('x.md', md).map((b) => b.plan)).toEqual([
      { kind: 'program', lang: 'ts' },
      { kind: 'output' },
      { kind: 'file', path: 'config/x.yaml' },
      { kind: 'not-run', reason: 'needs a terminal' },
      { kind: 'session' },
    ]);
  });

  it('refuses a block that is neither runnable nor marked', () => {
    expect(() => blocksOf('x.md', `${fence}yaml\na: 1\n${fence}`)).toThrow(/x\.md:1: a `yaml` block is neither run nor marked/);
    expect(() => blocksOf('x.md', `${fence}\nplain\n${fence}`)).toThrow(/\(no language\)/);
  });

  it('refuses a mark that no block follows, a mark without a reason, and an unclosed block', () => {
    expect(() => blocksOf('x.md', '<!-- not run: why -->\n\nsome prose\n')).toThrow(/x\.md:1: a mark that is not right before a code block/);
    expect(() => blocksOf('x.md', `<!-- skip -->\n${fence}ts\n1\n${fence}`)).toThrow(/misspelt/);
    expect(() => blocksOf('x.md', `<!-- not run -->\n${fence}sh\nls\n${fence}`)).toThrow(/needs a reason/);
    expect(() => blocksOf('x.md', `<!-- output -->\n${fence}js\n1\n${fence}`)).toThrow(/must be a `text` block/);
    expect(() => blocksOf('x.md', `${fence}ts\n1\n`)).toThrow(/never closed/);
  });

  it('reads blocks indented in a list', () => {
    const [block] = blocksOf('x.md', `- item\n\n  ${fence}sh\n  ls\n  ${fence}\n`);
    expect(block).toMatchObject({ line: 3, code: 'ls', plan: { kind: 'shell' } });
  });
});

describe('sessionOf', () => {
  it('splits a console block into commands, expected output and exit codes', () => {
    const [block] = blocksOf('x.md', `${fence}console\n$ a --long \\\n  --more\nout 1\nout 2\n$ b   # exit 1\nE_X: bad\n${fence}`);
    expect(sessionOf(block!)).toEqual([
      { command: 'a --long \n  --more', expected: 'out 1\nout 2', exit: 0 },
      { command: 'b   # exit 1', expected: 'E_X: bad', exit: 1 },
    ]);
  });
});

describe('outputMismatch', () => {
  it('matches whitespace-insensitively, with … for any text and ... for any lines', () => {
    expect(outputMismatch('a   b\n…Z id\n...\nend', 'a b\n\ncurrent.2026Z id\nx\ny\nend\n')).toBeUndefined();
    expect(outputMismatch('version 3', 'version 3')).toBeUndefined();
  });

  it('reports a different value, a missing line and an extra line', () => {
    expect(outputMismatch('version 3', 'version 4')).toMatch(/actual:\nversion 4/);
    expect(outputMismatch('a\nb', 'a')).toBeDefined();
    expect(outputMismatch('a', 'a\nb')).toBeDefined();
    expect(outputMismatch('a (1)', 'a 1')).toBeDefined(); // parentheses are literal, not regex
  });
});

describe('links and anchors', () => {
  it('finds relative links outside code, and GitHub heading anchors', () => {
    const md = `# Hot reload: \`watch\`\n## Hot reload: \`watch\`\n[a](docs/a.md#x) [b](https://x.org) \`[c](no.md)\`\n${fence}text\n[d](no.md)\n${fence}\n`;
    expect(linksOf(md)).toEqual(['docs/a.md#x']);
    expect([...anchorsOf(md)]).toEqual(['hot-reload-watch', 'hot-reload-watch-1']);
  });
});
