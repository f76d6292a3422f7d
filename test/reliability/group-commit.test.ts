/**
 * Group commit of directory fsyncs (src/storage/local/sync-group.ts), read from a real trace:
 * saves of different files issued together share fsyncs of their directory, and every save's
 * rename is still followed by an fsync of its directory that started after it, before the saves
 * resolve. Sequential saves each get their own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { hasCommand, writeMarkedChild } from './lib.js';

/** One traced call: an fsync or a rename (with the paths strace -y names), or a marker. */
interface Traced {
  call: 'fsync' | 'rename' | 'mark';
  what: string;
}

/** Runs `body` (ESM, `cp` a ConfigPersistence on `baseDir`, `mark(name)` a recognisable call) under strace. */
function trace(baseDir: string, body: string): Traced[] {
  const script = writeMarkedChild(baseDir, body, { options: '{ backupOnWrite: false }', close: true });
  const log = path.join(baseDir, '..', 'trace.txt');
  execFileSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,statx,newfstatat,stat', '-o', log, process.execPath, script], { stdio: 'pipe' });
  const calls: Traced[] = [];
  // A rename strace had to split (`<unfinished ...>`, then `<... rename resumed>` on the same
  // thread) counts where it finished: an fsync that follows it really followed it.
  const pendingRename = new Map<string, string>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const tid = /^(\d+)\s/.exec(line)?.[1] ?? '';
    if (/<\.\.\. rename(?:at2?)? resumed>/.test(line) && pendingRename.has(tid)) {
      calls.push({ call: 'rename', what: pendingRename.get(tid)! });
      pendingRename.delete(tid);
      continue;
    }
    const mark = /nonexistent-mark-([\w-]+)/.exec(line);
    if (mark) calls.push({ call: 'mark', what: mark[1]! });
    // The call as issued: a pool thread's fsync may print as `<unfinished ...>` and resume later.
    const sync = /f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
    if (sync) calls.push({ call: 'fsync', what: path.relative(baseDir, sync[1]!) || '.' });
    const rename = /rename(?:at2?)?\(.*"([^"]+)"/.exec(line);
    if (rename && line.includes('<unfinished')) pendingRename.set(tid, path.relative(baseDir, rename[1]!));
    else if (rename) calls.push({ call: 'rename', what: path.relative(baseDir, rename[1]!) });
  }
  return calls;
}

/** The calls between two marks. */
function between(calls: Traced[], from: string, to: string): Traced[] {
  const start = calls.findIndex((c) => c.call === 'mark' && c.what === from);
  const end = calls.findIndex((c) => c.call === 'mark' && c.what === to);
  expect(start, `mark ${from}`).toBeGreaterThanOrEqual(0);
  expect(end, `mark ${to}`).toBeGreaterThan(start);
  return calls.slice(start + 1, end);
}

/** Checks that each file's rename is followed, before the end, by an fsync of the base directory. */
function expectEachRenameSynced(calls: Traced[], files: string[]): void {
  for (const file of files) {
    const renamed = calls.findIndex((c) => c.call === 'rename' && c.what === file);
    expect(renamed, `rename of ${file}`).toBeGreaterThanOrEqual(0);
    const synced = calls.findIndex((c, i) => i > renamed && c.call === 'fsync' && c.what === '.');
    expect(synced, `an fsync of the directory started after the rename of ${file}`).toBeGreaterThan(renamed);
  }
}

describe.runIf(process.platform === 'linux' && hasCommand('strace'))('group commit of directory fsyncs (strace)', () => {
  it('16 saves of different files issued together share directory fsyncs, each rename still synced after it', async () => {
    const base = path.join(await tempDir('cp-group-'), 'base');
    const files = Array.from({ length: 16 }, (_, i) => `f${i}.json`);
    const calls = between(
      trace(
        base,
        `for (const f of ${JSON.stringify(files)}) await cp.saveConfig({ first: f }, f);
mark('start');
await Promise.all(${JSON.stringify(files)}.map((f, i) => cp.saveConfig({ n: i, pad: 'x'.repeat(1000) }, f)));
mark('done');`,
      ),
      'start',
      'done',
    );
    expectEachRenameSynced(calls, files);
    const dirSyncs = calls.filter((c) => c.call === 'fsync' && c.what === '.').length;
    // One fsync each (16) is what the saves made before the group commit.
    expect(dirSyncs).toBeGreaterThanOrEqual(1);
    expect(dirSyncs).toBeLessThan(files.length);
    // Every temp file still has its own fsync (data cannot be shared).
    expect(calls.filter((c) => c.call === 'fsync' && c.what.includes('.cp-tmp')).length).toBe(files.length);
  });

  it('saves one after another each make their own directory fsync', async () => {
    const base = path.join(await tempDir('cp-group-'), 'base');
    const calls = between(
      trace(
        base,
        `await cp.saveConfig({ n: 0 }, 'a.json');
mark('start');
for (let n = 1; n <= 3; n++) await cp.saveConfig({ n }, 'a.json');
mark('done');`,
      ),
      'start',
      'done',
    );
    expect(calls.filter((c) => c.call === 'fsync' && c.what === '.').length).toBe(3);
    expectEachRenameSynced(calls, ['a.json']);
  });
});
