import { mkdir, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile, chmod, link } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalStorage } from '../src/storage/index.js';
import { runNode, tempDir, ROOT } from './helpers/tmp.js';

const enc = (s: string) => Buffer.from(s);

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('LocalStorage', () => {
  it('puts, reads, lists and removes keys', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('{"a":1}') }] });
    await s.commit({ changes: [{ type: 'put', key: 'profiles/dev.yaml', data: enc('x: 1') }] });
    expect(Buffer.from((await s.read('a.json'))!).toString()).toBe('{"a":1}');
    expect((await s.list('')).map((e) => e.key)).toEqual(['a.json', 'profiles']);
    expect((await s.list('profiles')).map((e) => e.name)).toEqual(['dev.yaml']);
    expect(await s.list('nope')).toEqual([]);
    await s.commit({ changes: [{ type: 'remove', key: 'a.json' }] });
    expect(await s.read('a.json')).toBeUndefined();
  });

  it('reads a file changed outside after its own write: in place with the same size, renamed over with the old mtime, a symlink, removed', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    const file = path.join(dir, 'a.json');
    const text = async () => Buffer.from((await s.readEntry('a.json'))!.bytes).toString();
    await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('{"a":1}') }] });
    expect(await text()).toBe('{"a":1}');
    // In place, same size, at once (mtime may not even move: ext4 takes it from a clock tick of 1-4 ms).
    await writeFile(file, '{"a":2}');
    expect(await text()).toBe('{"a":2}');
    await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('{"a":3}') }] });
    // Replaced by a rename (another inode), same size, even with the old mtime put back.
    const before = await stat(file);
    await writeFile(`${file}.x`, '{"a":4}');
    await utimes(`${file}.x`, before.atime, before.mtime);
    await rename(`${file}.x`, file);
    expect(await text()).toBe('{"a":4}');
    await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('{"a":5}') }] });
    // Replaced by a symlink to a file inside: read through the checked slow path.
    await writeFile(path.join(dir, 'b.json'), '{"b":1}');
    await rm(file);
    await symlink('b.json', file);
    expect(await text()).toBe('{"b":1}');
    // Removed, then written again by this instance: the new bytes.
    await s.commit({ changes: [{ type: 'remove', key: 'a.json' }] });
    expect(await s.readEntry('a.json')).toBeUndefined();
    await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('{"a":6}') }] });
    expect(await text()).toBe('{"a":6}');
  });

  it('leaves no temp files behind and keeps the permission bits of an overwritten file', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'secret.json', data: enc('{}') }] });
    await chmod(path.join(dir, 'secret.json'), 0o640);
    await s.commit({ changes: [{ type: 'put', key: 'secret.json', data: enc('{"k":1}') }] });
    expect((await stat(path.join(dir, 'secret.json'))).mode & 0o777).toBe(0o640);
    // Bits the umask would take away (group and others may write) are put back, and narrow ones stay narrow.
    const before = process.umask(0o022);
    try {
      for (const mode of [0o666, 0o600, 0o444, 0o2640]) {
        await chmod(path.join(dir, 'secret.json'), mode);
        await s.commit({ changes: [{ type: 'put', key: 'secret.json', data: enc(`{"m":${mode}}`) }] });
        expect((await stat(path.join(dir, 'secret.json'))).mode & 0o7777, mode.toString(8)).toBe(mode);
      }
    } finally {
      process.umask(before);
    }
    expect((await readdir(dir)).filter((n) => n.endsWith('.cp-tmp'))).toEqual([]);
  });

  it('creates new files with the requested mode', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'private.json', data: enc('{}'), mode: 0o600 }] });
    expect((await stat(path.join(dir, 'private.json'))).mode & 0o777).toBe(0o600);
  });

  it('copies by hard link and appends journals in one commit', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'c.json', data: enc('old') }] });
    await s.commit({
      prepare: [
        { type: 'copy', from: 'c.json', to: 'backups/c.1.json' },
        { type: 'append', key: 'history/c.jsonl', data: enc('line1\n') },
      ],
      changes: [{ type: 'put', key: 'c.json', data: enc('new') }],
      after: [{ type: 'append', key: 'audit.log', data: enc('a\n') }],
    });
    expect(await readFile(path.join(dir, 'backups/c.1.json'), 'utf8')).toBe('old');
    expect(await readFile(path.join(dir, 'c.json'), 'utf8')).toBe('new');
    expect(await readFile(path.join(dir, 'history/c.jsonl'), 'utf8')).toBe('line1\n');
    expect(await readFile(path.join(dir, 'audit.log'), 'utf8')).toBe('a\n');
  });

  it('never overwrites an existing copy target', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'c.json', data: enc('1') }] });
    await s.commit({ prepare: [{ type: 'copy', from: 'c.json', to: 'b/x' }] });
    expect(await codeOf(s.commit({ prepare: [{ type: 'copy', from: 'c.json', to: 'b/x' }] }))).toBe('E_IO');
    await s.commit({ prepare: [{ type: 'copy', from: 'c.json', to: 'b/x', ifMissing: true }] });
  });

  it('applies several changes all-or-nothing and rolls back on failure', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('a0') }] });
    await s.commit({ changes: [{ type: 'put', key: 'b.json', data: enc('b0') }] });
    // The second change cannot be applied: moving a file that does not exist.
    const failed = s.commit({
      changes: [
        { type: 'put', key: 'a.json', data: enc('a1') },
        { type: 'remove', key: 'b.json' },
        { type: 'move', from: 'missing.json', to: 'quarantine/missing.json' },
      ],
    });
    expect(await codeOf(failed)).toBe('E_IO');
    expect(await readFile(path.join(dir, 'a.json'), 'utf8')).toBe('a0');
    expect(await readFile(path.join(dir, 'b.json'), 'utf8')).toBe('b0');
    expect((await readdir(path.join(dir, '.txn'))).length).toBe(0);
    expect((await readdir(dir)).filter((n) => n.endsWith('.cp-tmp'))).toEqual([]);
    await s.commit({
      changes: [
        { type: 'put', key: 'a.json', data: enc('a2') },
        { type: 'remove', key: 'b.json' },
        { type: 'put', key: 'c.json', data: enc('c2') },
      ],
    });
    expect(await readFile(path.join(dir, 'a.json'), 'utf8')).toBe('a2');
    expect(await readFile(path.join(dir, 'c.json'), 'utf8')).toBe('c2');
    expect(await s.read('b.json')).toBeUndefined();
  });

  it('rolls an interrupted multi-key commit forward on the next open', async () => {
    const dir = await tempDir();
    // Simulate a crash after the intent record became durable: temps exist, intent names them.
    await mkdir(path.join(dir, '.txn'), { recursive: true });
    await writeFile(path.join(dir, '.a.json.999999-1-aa.cp-tmp'), 'a-new');
    await writeFile(path.join(dir, 'a.json'), 'a-old');
    await writeFile(path.join(dir, 'gone.json'), 'bye');
    // As the writer does: hard links to each target's content when the commit began.
    await link(path.join(dir, 'a.json'), path.join(dir, '.txn', '1-999999-aa.0.old'));
    await link(path.join(dir, 'gone.json'), path.join(dir, '.txn', '1-999999-aa.1.old'));
    await writeFile(
      path.join(dir, '.txn', '1-999999-aa.json'),
      JSON.stringify({
        pid: 999999,
        steps: [
          { kind: 'put', from: path.join(dir, '.a.json.999999-1-aa.cp-tmp'), to: path.join(dir, 'a.json'), old: path.join(dir, '.txn', '1-999999-aa.0.old') },
          { kind: 'remove', to: path.join(dir, 'gone.json'), old: path.join(dir, '.txn', '1-999999-aa.1.old') },
        ],
      }),
    );
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'other.json', data: enc('x') }] });
    expect(await readFile(path.join(dir, 'a.json'), 'utf8')).toBe('a-new');
    expect(await s.read('gone.json')).toBeUndefined();
    expect(await readdir(path.join(dir, '.txn'))).toEqual([]);
  });

  it('refuses keys that leave the root', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    for (const key of ['../x', '/etc/passwd', 'a/../../x', 'a\0b', '', 'a//b', 'a\\b']) {
      expect(await codeOf(s.read(key))).toBe('E_INVALID_NAME');
      expect(await codeOf(s.commit({ changes: [{ type: 'put', key, data: enc('x') }] }))).toBe('E_INVALID_NAME');
    }
  });

  it('refuses symlinks that lead outside the root, for files and directories', async () => {
    const outside = await tempDir('cp-outside-');
    const dir = await tempDir();
    await writeFile(path.join(outside, 'secret.json'), '{"secret":1}');
    await symlink(path.join(outside, 'secret.json'), path.join(dir, 'current.json'));
    await symlink(outside, path.join(dir, 'profiles'));
    const s = new LocalStorage(dir);
    expect(await codeOf(s.read('current.json'))).toBe('E_INVALID_NAME');
    expect(() => s.readSync('current.json')).toThrow(/outside/);
    expect(await codeOf(s.read('profiles/secret.json'))).toBe('E_INVALID_NAME');
    expect(await codeOf(s.commit({ changes: [{ type: 'put', key: 'profiles/x.json', data: enc('x') }] }))).toBe('E_INVALID_NAME');
    expect(await readdir(outside)).toEqual(['secret.json']);
  });

  it('follows symlinks that stay inside the root', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'real.json'), '{"a":1}');
    await symlink(path.join(dir, 'real.json'), path.join(dir, 'alias.json'));
    const s = new LocalStorage(dir);
    expect(Buffer.from((await s.read('alias.json'))!).toString()).toBe('{"a":1}');
  });

  it('refuses files larger than maxBytes', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'big.json'), 'x'.repeat(2000));
    const s = new LocalStorage(dir);
    expect(await codeOf(s.read('big.json', { maxBytes: 1000 }))).toBe('E_TOO_LARGE');
  });

  it('reports stray temp files of dead writers only', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, '.current.json.999999-1-ab.cp-tmp'), 'partial');
    await writeFile(path.join(dir, `.current.json.${process.ppid}-1-ab.cp-tmp`), 'in flight');
    const s = new LocalStorage(dir);
    expect(await s.strayTemps()).toEqual(['.current.json.999999-1-ab.cp-tmp']);
  });

  it('locks exclusively across processes and times out with E_LOCKED', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    const release = await s.lock('current.json');
    const script = `
      import { LocalStorage } from ${JSON.stringify(path.join(ROOT, 'dist/storage/index.js'))};
      const s = new LocalStorage(${JSON.stringify(dir)});
      try { await s.lock('current.json', { timeoutMs: 300 }); console.log('acquired'); }
      catch (e) { console.log(e.code); }
    `;
    const held = await runNode(script);
    expect(held.stdout.trim()).toBe('E_LOCKED');
    await release();
    const free = await runNode(script);
    expect(free.stdout.trim()).toBe('acquired');
  });

  it('a lock is one file; a directory lock left by an earlier version excludes while its process lives and is taken over at once when it is gone', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir, { staleLockMs: 60_000 }); // a lease never decides here: only the owner
    const release = await s.lock('current.json');
    const lockPath = path.join(dir, '.locks', 'current.json.lock');
    expect((await stat(lockPath)).isFile()).toBe(true);
    await release();
    await new Promise((r) => setImmediate(r)); // released at the end of the turn (see LocalLocks)
    expect(await readdir(path.join(dir, '.locks'))).toEqual([]);

    // `<name>.lock/owner.json`, as versions before 2026-12-07 wrote it, naming a live process.
    const { spawn } = await import('node:child_process');
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const identity = async (pid: number) => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
      return { pid, host: (await import('node:os')).hostname(), boot, start, token: 'old-version' };
    };
    try {
      await mkdir(lockPath, { recursive: true });
      await writeFile(path.join(lockPath, 'owner.json'), JSON.stringify(await identity(holder.pid!)));
      expect(await codeOf(s.lock('current.json', { timeoutMs: 300 }))).toBe('E_LOCKED');
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    // Its process is gone: taken over at the first try, not after the lease.
    const started = Date.now();
    const again = await s.lock('current.json', { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await stat(lockPath)).isFile()).toBe(true);
    await again();
  });

  it('keeps a backup link pointing at the old inode after the file is replaced', async () => {
    const dir = await tempDir();
    const s = new LocalStorage(dir);
    await s.commit({ changes: [{ type: 'put', key: 'c.json', data: enc('v1') }] });
    await s.commit({ prepare: [{ type: 'copy', from: 'c.json', to: 'backups/v1' }], changes: [{ type: 'put', key: 'c.json', data: enc('v2') }] });
    await s.commit({ prepare: [{ type: 'copy', from: 'c.json', to: 'backups/v2' }], changes: [{ type: 'put', key: 'c.json', data: enc('v3') }] });
    expect(await readFile(path.join(dir, 'backups/v1'), 'utf8')).toBe('v1');
    expect(await readFile(path.join(dir, 'backups/v2'), 'utf8')).toBe('v2');
    // Sanity: hard links are real on this file system (same inode count semantics).
    await link(path.join(dir, 'c.json'), path.join(dir, 'c-link'));
    expect((await stat(path.join(dir, 'c.json'))).nlink).toBe(2);
  });
});
