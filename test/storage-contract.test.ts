/**
 * The storage contract (test/storage/contract.ts) on every backend, and what only one backend can
 * show: a real child process killed in the middle of multi-key commits (local), injected failures,
 * the capacity limit and two instances on one volume (memory).
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalStorage, MemoryStorage, MemoryVolume } from '../src/storage/index.js';
import { codeOf, dump, storageContract, type Backend } from './storage/contract.js';
import { DIST_STORAGE, tempDir } from './helpers/tmp.js';

const memory: Backend = {
  name: 'MemoryStorage',
  watchLatencyMs: 1000,
  injects: true,
  async open() {
    const storage = new MemoryStorage();
    return {
      storage,
      other: () => new MemoryStorage({ volume: storage.shared }),
      faults: { failAt: (step: number) => storage.failAt(step), steps: () => storage.lastCommitSteps },
      dispose: async () => undefined,
    };
  },
};

const local: Backend = {
  name: 'LocalStorage',
  watchLatencyMs: 5000,
  injects: false,
  async open() {
    const dir = await tempDir('cp-contract-');
    return { storage: new LocalStorage(dir), other: () => new LocalStorage(dir), dispose: async () => undefined };
  },
};

storageContract(memory);
storageContract(local);

const enc = (text: string): Uint8Array => Buffer.from(text);

describe('LocalStorage: a process killed in the middle of multi-key commits', () => {
  it('leaves every commit whole once the next instance recovers (SIGKILL at random instants)', async () => {
    const dir = await tempDir('cp-contract-kill-');
    const script = `
      import { LocalStorage } from ${JSON.stringify(DIST_STORAGE)};
      const s = new LocalStorage(${JSON.stringify(dir)});
      const start = Number(process.argv[1]);
      process.stdout.write('ready\\n');
      for (let n = start; ; n++) {
        const data = Buffer.from(String(n));
        await s.commit({
          prepare: [{ type: 'append', key: 'history/log', data: Buffer.from(n + '\\n') }],
          changes: [{ type: 'put', key: 'a', data }, { type: 'put', key: 'sub/b', data }, { type: 'put', key: 'c', data }],
        });
      }
    `;
    let start = 0;
    for (let kill = 0; kill < 8; kill++) {
      await runAndKill(script, String(start), 20 + Math.random() * 150);
      const s = new LocalStorage(dir);
      await s.commit({}); // recovery of an interrupted intent happens before the first write
      const values = await Promise.all(['a', 'sub/b', 'c'].map(async (k) => Buffer.from((await s.read(k)) ?? '').toString()));
      expect(new Set(values).size, `after kill ${kill}: ${values.join(' ')}`).toBe(1);
      // What the kill left behind (temp files, links of an intent never recorded) is reported, and
      // repair's fix removes it all.
      const leftovers = (): Promise<string[]> => dump(s).then((files) => Object.keys(files).filter((k) => k.startsWith('.txn/') || k.endsWith('.cp-tmp')));
      const findings = await s.findings();
      expect(findings.map((f) => f.key).sort()).toEqual((await leftovers()).sort());
      for (const finding of findings) await s.commit(finding.fix!.commit);
      expect(await leftovers()).toEqual([]);
      start = Number(values[0] || 0) + 1;
      await s.close();
    }
    expect(start).toBeGreaterThan(1);
  }, 60_000);
});

describe('LocalStorage: findings()', () => {
  it('reports stray temps and orphaned intent links of dead writers only, each with a fix that removes it', async () => {
    const dir = await tempDir('cp-contract-findings-');
    await mkdir(path.join(dir, '.txn'), { recursive: true });
    const dead = 2 ** 22 + 12345; // above the default pid_max: no such process
    const files = {
      [`.txn/1-${dead}-ab.0.old`]: 'orphaned (no intent, writer gone)',
      [`.txn/2-${dead}-cd.0.old`]: 'referred to by its intent',
      [`.txn/2-${dead}-cd.json`]: JSON.stringify({ pid: dead, steps: [{ kind: 'remove', to: path.join(dir, 'gone.json'), old: path.join(dir, `.txn/2-${dead}-cd.0.old`) }] }),
      [`.txn/3-${process.pid}-ef.0.old`]: 'this live process may be writing its intent',
      [`.current.json.${dead}-1-ab.cp-tmp`]: 'stray temp',
      'current.json': '{}',
    };
    for (const [key, content] of Object.entries(files)) await writeFile(path.join(dir, key), content);
    const s = new LocalStorage(dir);
    const found = await s.findings();
    expect(found.map((f) => [f.key, f.kind, f.fix?.action])).toEqual([
      [`.current.json.${dead}-1-ab.cp-tmp`, 'stray-temp', 'remove-temp'],
      [`.txn/1-${dead}-ab.0.old`, 'stray-temp', 'remove-temp'],
    ]);
    for (const finding of found) await s.commit(finding.fix!.commit);
    expect(await s.findings()).toEqual([]);
    // The recorded intent was finished by the first commit (its link went with it); the live writer's link stays.
    expect(Object.keys(await dump(s)).sort()).toEqual([`.txn/3-${process.pid}-ef.0.old`, 'current.json']);
    await s.close();
  });
});

/** Spawns `node -e script arg`, waits for `ready`, lets it run `ms`, kills it with SIGKILL. */
async function runAndKill(script: string, arg: string, ms: number): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, arg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('close', () => reject(new Error(`child exited before it was ready: ${err}`)));
  });
  await new Promise((r) => setTimeout(r, ms));
  child.kill('SIGKILL');
  expect(await closed, err).toBe('SIGKILL');
}

describe('MemoryStorage', () => {
  it('fault(): the hook sees every operation of a commit with its phase, and its failure writes nothing', async () => {
    const seen: string[] = [];
    let fail = false;
    const s = new MemoryStorage({
      fault: (op) => {
        seen.push(`${op.commit}.${op.step} ${op.phase} ${op.type} ${op.key}`);
        return fail && op.phase === 'after';
      },
    });
    await s.commit({ prepare: [{ type: 'put', key: 'p', data: enc('1') }], changes: [{ type: 'put', key: 'a', data: enc('1') }], after: [{ type: 'append', key: 'log', data: enc('x\n') }] });
    expect(seen).toEqual(['1.1 prepare put p', '1.2 changes put a', '1.3 after append log']);
    fail = true;
    const err = await s.commit({ changes: [{ type: 'put', key: 'a', data: enc('2') }], after: [{ type: 'append', key: 'log', data: enc('y\n') }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_IO' });
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('EIO');
    expect(await dump(s)).toEqual({ a: '1', p: '1', log: 'x\n' });
  });

  it('a failed cleanup removal is best effort: the key stays, unrecorded, and the commit succeeds', async () => {
    const s = new MemoryStorage({ fault: (op) => op.phase === 'cleanup' && op.key === 'old/2' });
    await s.commit({ changes: ['old/1', 'old/2', 'old/3'].map((key) => ({ type: 'put' as const, key, data: enc(key) })) });
    let recorded: readonly string[] = [];
    await s.commit({
      cleanup: {
        keys: ['old/1', 'old/2', 'old/3'],
        records: (removed) => {
          recorded = removed;
          return [];
        },
      },
    });
    expect(recorded).toEqual(['old/1', 'old/3']);
    expect(await dump(s)).toEqual({ 'old/2': 'old/2' });
  });

  it('capacityBytes: a commit that would overfill the volume is E_IO (ENOSPC) and writes nothing', async () => {
    const s = new MemoryStorage({ capacityBytes: 100 });
    await s.commit({ changes: [{ type: 'put', key: 'a', data: new Uint8Array(60) }] });
    const err = await s.commit({ changes: [{ type: 'put', key: 'b', data: new Uint8Array(60) }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_IO' });
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ENOSPC');
    expect(await s.stat('b')).toBeUndefined();
    await s.commit({ changes: [{ type: 'put', key: 'a', data: new Uint8Array(90) }] }); // a replacement counts once
    expect((await s.stat('a'))!.size).toBe(90);
  });

  it('a key cannot be both a value and a prefix of others (ENOTDIR / EISDIR, like a file system)', async () => {
    const s = new MemoryStorage();
    await s.commit({ changes: [{ type: 'put', key: 'dir/file', data: enc('x') }] });
    expect(await codeOf(s.commit({ changes: [{ type: 'put', key: 'dir', data: enc('y') }] }))).toBe('E_IO');
    expect(await codeOf(s.commit({ changes: [{ type: 'put', key: 'dir/file/below', data: enc('y') }] }))).toBe('E_IO');
    await s.commit({ changes: [{ type: 'remove', key: 'dir/file' }, { type: 'put', key: 'dir', data: enc('now a value') }] });
    expect(await dump(s)).toEqual({ dir: 'now a value' });
  });

  it('two instances on one volume: one store, and close() releases what the closed instance held', async () => {
    const volume = new MemoryVolume();
    const [p1, p2] = [new MemoryStorage({ volume }), new MemoryStorage({ volume })];
    await p1.commit({ changes: [{ type: 'put', key: 'k', data: enc('from p1') }] });
    expect(Buffer.from((await p2.read('k'))!).toString()).toBe('from p1');
    await p1.lock('k');
    expect(await codeOf(p2.lock('k', { timeoutMs: 50 }))).toBe('E_LOCKED');
    await p1.close(); // like a process that exits: its locks go with it
    const release = await p2.lock('k', { timeoutMs: 50 });
    await release();
  });

  it('reads return copies: changing a returned or committed buffer changes nothing stored', async () => {
    const s = new MemoryStorage();
    const data = enc('abc');
    await s.commit({ changes: [{ type: 'put', key: 'k', data }] });
    data[0] = 0x7a;
    const read = (await s.read('k'))!;
    read[1] = 0x7a;
    expect(Buffer.from((await s.read('k'))!).toString()).toBe('abc');
  });
});
