/**
 * The system calls a save makes on the main thread (#19), read from a real trace of a save after
 * three others of the same file: what the disk needs (read the old content, write and rename the
 * temp file, link the old content, append the history line) and the containment checks, without
 * the calls that repeat what the same save or the one before already did. The directories a
 * commit fsyncs and the shared journals (audit log, backup index) are kept open between saves
 * (src/storage/local/handles.ts), and only while their path still names what was opened: a
 * rotated audit log and a replaced directory are opened again.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { hasCommand, writeMarkedChild } from './lib.js';

const CALLS = 'openat,close,statx,newfstatat,fstat,lstat,stat,read,pread64,write,pwrite64,link,linkat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir,fsync,fdatasync,getuid';

/**
 * Runs `body` (ESM: `cp` a ConfigPersistence on `baseDir`, `mark(name)` a recognisable call) under
 * strace; returns the main thread's calls between `mark('start')` and `mark('end')`, paths relative
 * to the base directory (`-y` names each descriptor's file).
 */
function mainThreadCalls(baseDir: string, body: string, backupOnWrite: boolean): string[] {
  const script = writeMarkedChild(baseDir, body, { options: `{ backupOnWrite: ${backupOnWrite} }`, close: true });
  const log = path.join(baseDir, '..', 'trace.txt');
  execFileSync('strace', ['-f', '-y', '-qq', '-e', `trace=${CALLS}`, '-o', log, process.execPath, script], { stdio: 'pipe' });
  const lines = readFileSync(log, 'utf8').split('\n');
  const main = /^(\d+)\s/.exec(lines[0]!)?.[1];
  const start = lines.findIndex((l) => l.includes('nonexistent-mark-start'));
  const end = lines.findIndex((l) => l.includes('nonexistent-mark-end'));
  expect(start, 'the start mark').toBeGreaterThan(0);
  expect(end, 'the end mark').toBeGreaterThan(start);
  return (
    lines
      .slice(start + 1, end)
      // strace pads the pid column (`5446  open…`, `12345 open…`): stripped by pattern below.
      .filter((l) => l.startsWith(`${main} `) && !l.includes('resumed>'))
      // libuv's wake-ups (an eventfd written by the thread pool, read by the loop) are not the save's.
      .filter((l) => !l.includes('eventfd') && !l.includes('anon_inode'))
      .map((l) => l.replace(/^\d+\s+/, '').replace(/AT_FDCWD<[^>]*>/g, 'AT_FDCWD').split(baseDir).join('<dir>').replace(/\d+-\d+-[0-9a-f]+\.cp-tmp/g, '<temp>'))
  );
}

// The pause: the earlier saves' background fsyncs of the audit line (100 ms after them) are made
// before the measured save, not inside it (and the lock is then taken afresh, counted apart).
const SAVES = `for (let n = 0; n < 3; n++) await cp.saveConfig({ n, pad: 'x'.repeat(500) }, 'settings.json');
await new Promise((r) => setTimeout(r, 250));
mark('start');
await cp.saveConfig({ n: 3, pad: 'x'.repeat(500) }, 'settings.json');
mark('end');`;

/** The calls on the lock directory (`.locks/`), apart from the save's own. */
function withoutLock(all: string[]): { calls: string[]; lock: string[] } {
  const onLock = (c: string) => c.includes('<dir>/.locks/');
  return { calls: all.filter((c) => !onLock(c)), lock: all.filter(onLock) };
}

/** How often `calls` names `file` in an lstat (statx with AT_SYMLINK_NOFOLLOW). */
function lstatsOf(calls: string[], file: string): number {
  return calls.filter((c) => c.startsWith('statx(') && c.includes(`"<dir>/${file}"`) && c.includes('AT_SYMLINK_NOFOLLOW')).length;
}

describe.runIf(process.platform === 'linux' && hasCommand('strace'))('the system calls of a save (strace)', () => {
  it('without backup: 25 calls, no directory or shared journal opened again, the document lstat-ed three times', async () => {
    const base = path.join(await tempDir('cp-calls-'), 'base');
    const { calls, lock } = withoutLock(mainThreadCalls(base, SAVES, false));
    const listing = calls.join('\n');
    // After the pause the lock is taken afresh: its file created, written and closed — one
    // directory change (a directory with an owner file inside made two, and two more to remove).
    expect(lock.length, lock.join('\n')).toBe(3);
    expect(lock.filter((c) => c.startsWith('mkdir')), lock.join('\n')).toEqual([]);
    expect(lock[0], lock.join('\n')).toMatch(/^openat\(AT_FDCWD, "<dir>\/\.locks\/settings\.json\.lock", O_WRONLY\|O_CREAT\|O_EXCL/);
    // The directories fsynced by the saves before: their kept descriptors (an open, fstat and close each).
    expect(calls.filter((c) => c.startsWith('openat(') && c.includes('O_DIRECTORY')), listing).toEqual([]);
    expect(calls.filter((c) => c.startsWith('openat(') && c.includes('audit.log') && c.includes('O_APPEND')), listing).toEqual([]);
    // The containment check of prestaging, the expectation (whose lstat the commit's own check reuses), the fence.
    expect(lstatsOf(calls, 'settings.json'), listing).toBe(3);
    // Before: 34 (the two directories opened, fstat-ed and closed; the audit log opened and closed;
    // the document stat-ed once more for the expectation; the base directory lstat-ed again).
    expect(calls.length, listing).toBeLessThanOrEqual(25);
    // Still made: the old content read, the temp file written and renamed, the old content linked, the history line.
    for (const call of ['openat(AT_FDCWD, "<dir>/settings.json"', 'pwrite64(', 'rename(', 'link(', 'openat(AT_FDCWD, "<dir>/history/settings.json.jsonl"']) {
      expect(calls.some((c) => c.startsWith(call)), `${call} in\n${listing}`).toBe(true);
    }
  });

  it('with the automatic backup: 31 calls, the backup index and the audit log through kept descriptors', async () => {
    const base = path.join(await tempDir('cp-calls-'), 'base');
    const { calls, lock } = withoutLock(mainThreadCalls(base, SAVES, true));
    const listing = calls.join('\n');
    expect(lock.length, lock.join('\n')).toBe(3);
    expect(calls.filter((c) => c.startsWith('openat(') && (c.includes('O_DIRECTORY') || ((c.includes('index.jsonl') || c.includes('audit.log')) && c.includes('O_APPEND')))), listing).toEqual([]);
    expect(calls.some((c) => c.startsWith('link(') && c.includes('<dir>/backups/')), listing).toBe(true);
    // Before: 38.
    expect(calls.length, listing).toBeLessThanOrEqual(31);
  });

  it('a rotated audit log gets the next line in the new file, and a replaced directory is the one fsynced', async () => {
    const base = path.join(await tempDir('cp-calls-'), 'base');
    mkdirSync(base, { recursive: true });
    const calls = mainThreadCalls(
      base,
      `for (let n = 0; n < 3; n++) await cp.saveConfig({ n }, 'settings.json');
(await import('node:fs')).renameSync(${JSON.stringify(path.join(base, 'audit.log'))}, ${JSON.stringify(path.join(base, 'audit.log.1'))});
(await import('node:fs')).renameSync(${JSON.stringify(path.join(base, 'history', 'objects'))}, ${JSON.stringify(path.join(base, 'history', 'objects-old'))});
(await import('node:fs')).mkdirSync(${JSON.stringify(path.join(base, 'history', 'objects'))});
mark('start');
await cp.saveConfig({ n: 3 }, 'settings.json');
mark('end');`,
      false,
    );
    const listing = calls.join('\n');
    const audit = readFileSync(path.join(base, 'audit.log'), 'utf8').trim().split('\n');
    expect(audit.map((l) => JSON.parse(l).version)).toEqual([4]);
    expect(readFileSync(path.join(base, 'audit.log.1'), 'utf8')).not.toContain('"version":4');
    // The old content's link went into the new directory, and the new directory is what was opened for its fsync.
    expect(calls.some((c) => c.startsWith('link(') && c.includes('"<dir>/history/objects/')), listing).toBe(true);
    expect(calls.some((c) => c.startsWith('openat(') && c.includes('"<dir>/history/objects"') && c.includes('O_DIRECTORY')), listing).toBe(true);
  });

  it('a store dropped without close() gives its kept descriptors back once it is collected', async () => {
    const dir = await tempDir('cp-calls-');
    const script = path.join(dir, 'drop.mjs');
    writeFileSync(
      script,
      `import { readdirSync } from 'node:fs';
const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
const open = () => readdirSync('/proc/self/fd').length;
const before = open();
for (let i = 0; i < 60; i++) {
  const cp = new ConfigPersistence({ baseDir: ${JSON.stringify(dir)} + '/s' + i, schemaDir: ${JSON.stringify(path.join(dir, 'none'))} });
  for (let n = 0; n < 3; n++) await cp.saveConfig({ n }, 'a.json');
}
await new Promise((r) => setTimeout(r, 300)); // the background fsyncs of the audit lines
const held = open() - before;
for (let k = 0; k < 5 && open() - before > 10; k++) {
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 50));
}
console.log(JSON.stringify({ held, after: open() - before }));
process.exit(0);
`,
    );
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8' }).trim().split('\n').pop()!) as { held: number; after: number };
    expect(out.held).toBeGreaterThan(60); // each store kept its directories and journals open
    expect(out.after).toBeLessThanOrEqual(10);
  });
});
