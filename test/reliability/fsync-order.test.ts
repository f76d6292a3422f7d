/**
 * Which files a save makes durable, and when, read from a real trace (strace -y names each
 * descriptor's file): the new content, its directory, the backup and the history line before the
 * save resolves; the audit line and the backup's record in the background within 100 ms (or at
 * close()); retention's removal records never on their own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { hasCommand } from './lib.js';

/** One traced call: `fsync` (with the file it names) or a marker `statx` the child makes. */
interface Traced {
  call: 'fsync' | 'mark';
  what: string;
}

/**
 * Runs `body` (ESM, with `cp` a ConfigPersistence on `baseDir` and `mark(name)` a recognisable
 * system call) under strace and returns the fsyncs and marks in order.
 */
function trace(baseDir: string, body: string, options = '{}'): Traced[] {
  const script = path.join(baseDir, '..', 'child.mjs');
  writeFileSync(
    script,
    `import { statSync } from 'node:fs';
const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
const mark = (name) => statSync('/nonexistent-mark-' + name, { throwIfNoEntry: false });
const cp = new ConfigPersistence({ baseDir: ${JSON.stringify(baseDir)}, schemaDir: ${JSON.stringify(path.join(baseDir, '..', 'none'))}, ...${options} });
${body}
`,
  );
  const log = path.join(baseDir, '..', 'trace.txt');
  execFileSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,statx,newfstatat,stat', '-o', log, process.execPath, script], { stdio: 'pipe' });
  const out = readFileSync(log, 'utf8');
  const calls: Traced[] = [];
  for (const line of out.split('\n')) {
    const mark = /nonexistent-mark-([\w-]+)/.exec(line);
    if (mark) calls.push({ call: 'mark', what: mark[1]! });
    // The call as issued (a pool thread's fsync may print as `<unfinished ...>` and resume later).
    const sync = /f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
    if (sync) calls.push({ call: 'fsync', what: path.relative(baseDir, sync[1]!) || '.' });
  }
  return calls;
}

/** The fsynced files between two marks. */
function between(calls: Traced[], from: string, to: string): string[] {
  const start = calls.findIndex((c) => c.call === 'mark' && c.what === from);
  const end = calls.findIndex((c) => c.call === 'mark' && c.what === to);
  expect(start, `mark ${from}`).toBeGreaterThanOrEqual(0);
  expect(end, `mark ${to}`).toBeGreaterThan(start);
  return calls
    .slice(start + 1, end)
    .filter((c) => c.call === 'fsync')
    .map((c) => (c.what.includes('.cp-tmp') ? '<temp file>' : c.what));
}

describe.runIf(process.platform === 'linux' && hasCommand('strace'))('what a save fsyncs (strace)', () => {
  it('without backup: temp file and history journal before the rename; the base directory and the new content\'s history object with it, before it resolves; audit.log after, in the background', async () => {
    const base = path.join(await tempDir('cp-fsync-'), 'config');
    const calls = trace(
      base,
      `await cp.saveConfig({ n: 0 }, 'app.json');
await cp.saveConfig({ n: 1 }, 'app.json');
await new Promise((r) => setTimeout(r, 300)); // the first save's background fsync is done by now
mark('start');
await cp.saveConfig({ n: 2 }, 'app.json');
mark('resolved');
await new Promise((r) => setTimeout(r, 300));
mark('waited');
process.exit(0); // no close(): the timer alone made it durable`,
      '{ backupOnWrite: false }',
    );
    const before = between(calls, 'start', 'resolved');
    expect([...before].sort()).toEqual(['.', '<temp file>', 'history/app.json.jsonl', 'history/objects']);
    // The new content and its history line are durable before the rename is made durable; the
    // content's history object (a link to the same inode, made with it) is made durable with the rename.
    expect(before.indexOf('<temp file>')).toBeLessThan(before.indexOf('.'));
    expect(before.indexOf('history/app.json.jsonl')).toBeLessThan(before.indexOf('.'));
    expect(before.indexOf('<temp file>')).toBeLessThan(before.indexOf('history/objects'));
    expect(between(calls, 'resolved', 'waited')).toEqual(['audit.log']);
  });

  it('without backup, a new instance does not trust a history object it did not see synced: it syncs it before the rename', async () => {
    const base = path.join(await tempDir('cp-fsync-'), 'config');
    const calls = trace(
      base,
      `await cp.saveConfig({ n: 0 }, 'app.json');
await cp.close();
// Another instance, as after a kill -9 between the object's link and its directory's fsync.
const other = new ConfigPersistence({ baseDir: ${JSON.stringify('BASE')}, schemaDir: ${JSON.stringify('NONE')}, backupOnWrite: false });
mark('start');
await other.saveConfig({ n: 1 }, 'app.json');
mark('resolved');
await other.saveConfig({ n: 2 }, 'app.json');
mark('again');
await other.close();`.replace('"BASE"', JSON.stringify(base)).replace('"NONE"', JSON.stringify(path.join(base, '..', 'none'))),
      '{ backupOnWrite: false }',
    );
    const first = between(calls, 'start', 'resolved');
    // objects/ twice: the old content's object before the rename, the new one's with it.
    expect(first.filter((f) => f === 'history/objects')).toHaveLength(2);
    expect(first.indexOf('history/objects')).toBeLessThan(first.indexOf('.'));
    // Once it has seen an object synced, the next save relies on it: objects/ only with the rename.
    const second = between(calls, 'resolved', 'again');
    expect([...second].sort()).toEqual(['.', '<temp file>', 'history/app.json.jsonl', 'history/objects']);
    expect(second.indexOf('history/objects')).toBeGreaterThan(second.indexOf('<temp file>'));
  });

  it('with backup and retention: the backup before the change (it is the history content too), the backup record and the removal record after it resolves, in one background fsync', async () => {
    const base = path.join(await tempDir('cp-fsync-'), 'config');
    const calls = trace(
      base,
      `for (let i = 0; i < 4; i++) await cp.saveConfig({ n: i }, 'app.json'); // two backups: retention removes one per save from now on
await new Promise((r) => setTimeout(r, 300));
mark('start');
await cp.saveConfig({ n: 9 }, 'app.json');
mark('resolved');
await cp.close();
mark('closed');`,
      '{ maxBackups: 2 }',
    );
    const before = between(calls, 'start', 'resolved');
    // No history object: the backup holds that content (and becomes the object when it expires).
    expect([...before].sort()).toEqual(['.', '<temp file>', 'backups', 'history/app.json.jsonl']);
    // The backup (its directory entry) is durable before the rename is.
    expect(before.indexOf('backups')).toBeLessThan(before.indexOf('.'));
    // close() makes the audit line and the backup's record durable at once instead of waiting for
    // the timer; the index is fsynced once for its add and removal records together.
    expect(between(calls, 'resolved', 'closed').sort()).toEqual(['audit.log', 'backups/index.jsonl']);
  });
});
