/**
 * Roll-forward of interrupted multi-file commits (snapshot restores, imports): the intent record
 * written by the storage lists each step with a hard link to the target's content when the commit
 * began. Replaying an intent must finish what the crash interrupted — and never undo a write that
 * happened after it (another process may have saved a file before this one opened the directory).
 */
import { link, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST_STORAGE, tempDir } from '../helpers/tmp.js';

const { LocalStorage } = (await import(DIST_STORAGE)) as typeof import('../../src/storage/index.js');

/** Writes an intent the way the storage does (pid 999999: a process that no longer runs). */
async function intent(dir: string, steps: Array<{ kind: 'put' | 'remove'; to: string; from?: string; hasOld: boolean }>, owner?: Record<string, unknown>): Promise<void> {
  const txn = path.join(dir, '.txn');
  await mkdir(txn, { recursive: true });
  const record = { pid: (owner?.pid as number | undefined) ?? 999999, ...(owner ? { owner } : {}), steps: [] as Array<Record<string, string>> };
  for (const [i, s] of steps.entries()) {
    const step: Record<string, string> = { kind: s.kind, to: path.join(dir, s.to) };
    if (s.from) step.from = path.join(dir, s.from);
    if (s.hasOld) {
      step.old = path.join(txn, `1-999999-aa.${i}.old`);
      await link(step.to!, step.old);
    }
    record.steps.push(step);
  }
  await writeFile(path.join(txn, '1-999999-aa.json'), JSON.stringify(record));
}

describe('replaying an interrupted multi-file commit', () => {
  /** A crashed commit that replaced a.json and had not yet removed b.json. */
  async function crashedHalfway(dir: string, owner?: Record<string, unknown>): Promise<void> {
    await writeFile(path.join(dir, 'a.json'), '"a-old"');
    await writeFile(path.join(dir, 'b.json'), '"b-old"');
    await writeFile(path.join(dir, '.a.json.999999-1-aa.cp-tmp'), '"a-new"');
    await intent(
      dir,
      [
        { kind: 'put', from: '.a.json.999999-1-aa.cp-tmp', to: 'a.json', hasOld: true },
        { kind: 'remove', to: 'b.json', hasOld: true },
      ],
      owner,
    );
  }

  for (const via of ['read', 'readSync', 'list', 'stat'] as const) {
    it(`the first ${via} after the crash sees the finished commit, not half of it`, async () => {
      const dir = await tempDir('cp-recover-');
      await crashedHalfway(dir);
      const storage = new LocalStorage(dir);
      if (via === 'read') expect(Buffer.from((await storage.read('a.json'))!).toString()).toBe('"a-new"');
      if (via === 'readSync') expect(Buffer.from(storage.readSync!('a.json')!).toString()).toBe('"a-new"');
      if (via === 'list') expect((await storage.list('')).filter((e) => e.kind === 'file').map((e) => e.key)).toEqual(['a.json']);
      if (via === 'stat') expect(await storage.stat('b.json')).toBeUndefined();
      expect(await readdir(dir)).not.toContain('b.json');
      expect(await readdir(path.join(dir, '.txn'))).toEqual([]);
      await storage.close();
    });
  }

  it('an owner whose pid now belongs to another running process (after a reboot, say) does not keep recovery away', async () => {
    const dir = await tempDir('cp-recover-');
    // pid 1 runs, but it is not the process that wrote the intent: another boot, another start time.
    await crashedHalfway(dir, { pid: 1, host: os.hostname(), boot: 'a-boot-before-this-one', start: 1 });
    const storage = new LocalStorage(dir);
    expect(Buffer.from((await storage.read('a.json'))!).toString()).toBe('"a-new"');
    expect(await readdir(dir)).not.toContain('b.json');
    await storage.close();
  });

  it('an intent of a live owner is left to it', async () => {
    const dir = await tempDir('cp-recover-');
    // This very process (identity as the storage records it) is applying it.
    const { selfIdentity } = await import('../../src/storage/local/owner.js');
    await crashedHalfway(dir, { ...selfIdentity() });
    const storage = new LocalStorage(dir);
    expect(Buffer.from((await storage.read('a.json'))!).toString()).toBe('"a-old"');
    expect(await readdir(path.join(dir, '.txn'))).toContain('1-999999-aa.json');
    await storage.close();
  });

  it('finishes steps that had not run', async () => {
    const dir = await tempDir('cp-recover-');
    await writeFile(path.join(dir, 'a.json'), '"a-old"');
    await writeFile(path.join(dir, 'b.json'), '"b-old"');
    await writeFile(path.join(dir, '.a.json.999999-1-aa.cp-tmp'), '"a-new"');
    await intent(dir, [
      { kind: 'put', from: '.a.json.999999-1-aa.cp-tmp', to: 'a.json', hasOld: true },
      { kind: 'remove', to: 'b.json', hasOld: true },
    ]);
    await new LocalStorage(dir).commit({});
    expect(await readFile(path.join(dir, 'a.json'), 'utf8')).toBe('"a-new"');
    expect(await readdir(dir)).not.toContain('b.json');
    expect(await readdir(path.join(dir, '.txn'))).toEqual([]);
  });

  it('never undoes a later write: a file saved again after the crash keeps its new content', async () => {
    const dir = await tempDir('cp-recover-');
    await writeFile(path.join(dir, 'a.json'), '"a-old"');
    await writeFile(path.join(dir, 'b.json'), '"b-old"');
    await writeFile(path.join(dir, 'c.json'), '"c-old"');
    await writeFile(path.join(dir, '.c.json.999999-2-aa.cp-tmp'), '"c-from-the-commit"');
    await intent(dir, [
      { kind: 'put', from: '.a.json.999999-1-aa.cp-tmp', to: 'a.json', hasOld: true },
      { kind: 'remove', to: 'b.json', hasOld: true },
      { kind: 'put', from: '.c.json.999999-2-aa.cp-tmp', to: 'c.json', hasOld: true },
    ]);
    // The commit had run (a replaced, b removed) when its process died; c's step had not.
    // Then another process, already running, saved a, re-created b and saved c (atomic replaces).
    for (const [name, text] of [['a.json', '"a-later"'], ['b.json', '"b-later"'], ['c.json', '"c-later"']]) {
      await writeFile(path.join(dir, `${name}.tmp`), text!);
      await (await import('node:fs/promises')).rename(path.join(dir, `${name}.tmp`), path.join(dir, name!));
    }
    await new LocalStorage(dir).commit({});
    expect(await readFile(path.join(dir, 'a.json'), 'utf8')).toBe('"a-later"');
    expect(await readFile(path.join(dir, 'b.json'), 'utf8')).toBe('"b-later"');
    expect(await readFile(path.join(dir, 'c.json'), 'utf8')).toBe('"c-later"');
    expect((await readdir(dir)).filter((n) => n.endsWith('.cp-tmp'))).toEqual([]);
    expect(await readdir(path.join(dir, '.txn'))).toEqual([]);
  });
});
