/**
 * Which files a save makes durable, and when, read from a real trace (strace -y names each
 * descriptor's file): the new content, its directory, the backup and the history line before the
 * save resolves; the audit line and the backup's record in the background within 100 ms (or at
 * close()); retention's removal records never on their own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { hasCommand, writeMarkedChild } from './lib.js';

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
  const script = writeMarkedChild(baseDir, body, { options });
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
  it('without backup: temp file, history journal, history object directory and the base directory before it resolves; audit.log after, in the background', async () => {
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
    // The new content and the old content's history object are durable before the rename is made durable.
    expect(before.indexOf('<temp file>')).toBeLessThan(before.indexOf('.'));
    expect(before.indexOf('history/objects')).toBeLessThan(before.indexOf('.'));
    expect(between(calls, 'resolved', 'waited')).toEqual(['audit.log']);
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
