/**
 * Text from files never reaches the terminal raw: every control character that comes from data
 * (profile descriptions, values, keys, backup labels, history reasons, error messages quoting a
 * value) is printed escaped, and the only escape sequences in the output are the CLI's own colours.
 * Checked byte by byte, with colour forced on.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, workspace } from './helpers/cli.js';
import { DIST, runNode } from './helpers/tmp.js';

/** Every C0 control but line feed, DEL, a few C1 controls (U+009B is a CSI), bidi overrides. */
const EVIL = '\u001b[2J\u001b]0;title\u0007\u001b[41m\u001b[31mred\r\u0000\u0008\u000b\u000c\u0009tab\u007f\u009b31m\u0085\u202e\u2066';

/** The same for the command line (arguments cannot hold NUL). */
const ARG = EVIL.replace('\u0000', '');

/** The only sequences the CLI itself writes: its palette's SGR codes. */
const OWN_STYLE = /^\u001b\[(1|2|22|31|32|33|36|39)m/;

/** Fails with the offending position for any control character in `text` that is not ours. */
function expectClean(label: string, text: string): void {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x0a) continue;
    if (code === 0x1b) {
      const own = OWN_STYLE.exec(text.slice(i));
      expect(own, `${label}: raw ESC at ${i}: ${JSON.stringify(text.slice(Math.max(0, i - 20), i + 20))}`).not.toBeNull();
      i += own![0].length - 1;
      continue;
    }
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
    expect(control, `${label}: control U+${code.toString(16).padStart(4, '0')} at ${i}: ${JSON.stringify(text.slice(Math.max(0, i - 20), i + 20))}`).toBe(false);
  }
}

async function evilWorkspace(): Promise<string> {
  const ws = await workspace({ schemas: false });
  const config = path.join(ws, 'config');
  await mkdir(path.join(config, 'profiles'), { recursive: true });
  await writeFile(path.join(config, 'profiles', 'evil.json'), JSON.stringify({ $profile: { description: EVIL }, app: { name: EVIL }, [`k${EVIL}`]: 1 }));
  const run = await runNode(
    `const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
     const store = new ConfigPersistence({ baseDir: 'config', durable: false });
     await store.saveConfig({ app: { name: ${JSON.stringify(EVIL)} }, list: [${JSON.stringify(EVIL)}] }, 'current.json', { reason: ${JSON.stringify(EVIL)}, changedBy: ${JSON.stringify(EVIL)} });
     await store.saveConfig({ app: { name: 'plain' }, list: [${JSON.stringify(EVIL)}] }, 'current.json', { reason: ${JSON.stringify(EVIL)} });
     await store.createBackup('current.json', { label: ${JSON.stringify(EVIL)} });
     await store.close();`,
    { cwd: ws },
  );
  expect(run.stderr).toBe('');
  return ws;
}

describe('CLI: control characters from data', () => {
  it('are escaped in every human output, with colour forced on; our own colours still show', async () => {
    const ws = await evilWorkspace();
    const env = { FORCE_COLOR: '1' };
    const commands = [
      ['status'],
      ['--profile', 'evil', 'status'],
      ['profile', 'list'],
      ['profile', 'show', 'evil'],
      ['profile', 'show', 'evil', '--own'],
      ['get', 'app.name', '--profile', 'evil'],
      ['get', 'app', '--profile', 'evil'],
      ['get', 'list'],
      ['backup', 'list'],
      ['history', 'current'],
      ['diff', 'current', '1', '2'],
      ['validate'],
      ['verify'],
      ['stats'],
      ['profile', 'diff', 'evil', 'evil'],
      ['get', `no${ARG}`],
      ['set', `a${ARG}`, ARG],
      ['profile', 'show', `x${ARG}`],
      [`no-such-command${ARG}`],
    ];
    let coloured = 0;
    for (const args of commands) {
      const run = await cli(ws, args, { env });
      const label = args.join(' ');
      expectClean(`${label} (stdout)`, run.stdout);
      expectClean(`${label} (stderr)`, run.stderr);
      if (run.stdout.includes('\u001b[')) coloured++;
    }
    expect(coloured).toBeGreaterThan(3);
    const shown = (await cli(ws, ['profile', 'show', 'evil'], { env })).stdout;
    // Escaped, not dropped: what the file holds stays visible.
    expect(shown).toContain('\\e[2J');
    expect(shown).toContain('\\e]0;title\\x07');
  });

  it('are \\u-escaped in --json output (the same JSON value, nothing raw for a terminal)', async () => {
    const ws = await evilWorkspace();
    for (const args of [['--json', 'status'], ['--json', 'profile', 'show', 'evil'], ['--json', 'history', 'current'], ['--json', 'backup', 'list'], ['--json', 'get', 'app.name', '--profile', 'evil'], ['--json', 'profile', 'list']]) {
      const run = await cli(ws, args);
      expectClean(args.join(' '), run.stdout);
      expectClean(`${args.join(' ')} (stderr)`, run.stderr);
      expect(() => JSON.parse(run.stdout), args.join(' ')).not.toThrow();
    }
    const run = await cli(ws, ['--json', 'get', 'list']);
    expect(run.stdout).toContain('\\u001b[2J');
    expect(run.stdout).toContain('\\u009b31m');
    expect((JSON.parse(run.stdout) as { value: unknown }).value).toEqual([EVIL]);
  });
});
