/**
 * Multi-file commits interrupted at a chosen system call, in a real process (strace kills it, or
 * fails the call): what recovery consumes is never reported as stray afterwards (issue #18,
 * item 9), and an undo that fails keeps everything recovery needs (item 9).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST, DIST_STORAGE, tempDir } from '../helpers/tmp.js';
import { cloneDir, parseTrace, runTraced, type OpSpec } from './inject.js';
import { findTemps, hasCommand } from './lib.js';

const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');
const { LocalStorage } = (await import(DIST_STORAGE)) as typeof import('../../src/storage/index.js');

const FILES = ['a.json', 'b.json', 'c.json'];

/** A directory with a, b, c at generation `old`, a snapshot of them, then all three at `new`. */
async function snapshotted(work: string): Promise<{ template: string; id: string }> {
  const template = path.join(work, 'template');
  await mkdir(template);
  const cp = new ConfigPersistence({ baseDir: template, schemaDir: path.join(work, 'no-schemas') });
  for (const f of FILES) await cp.saveConfig({ gen: 'old' }, f);
  const { id } = await cp.createSnapshot({ label: 'old' });
  for (const f of FILES) await cp.saveConfig({ gen: 'new' }, f);
  await cp.close();
  return { template, id };
}

const generation = (dir: string, f: string): string => (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { gen: string }).gen;

/**
 * Runs `spec` in a copy of `template` with `action` (`signal=KILL`, `error=EIO`) injected at the
 * renames of the pool thread from the one that puts the `nth` target file in place (1-based) on
 * (`from: true`: that one and every later one). Returns the copy and the run.
 */
async function atTargetRename(work: string, template: string, spec: Omit<OpSpec, 'baseDir'>, nth: number, action: string, opts: { onward?: boolean } = {}) {
  const dry = path.join(work, 'dry');
  cloneDir(template, dry);
  // Both threads: which one makes the renames differs between Node versions (Node 24 makes them on
  // the main thread here, Node 20 on the pool); the injection attaches to the one that made it.
  const traced = await runTraced({ ...spec, baseDir: dry }, ['-e', 'trace=rename,renameat,renameat2'], { threads: ['main', 'pool'] });
  expect(traced.result.ok, JSON.stringify(traced.result)).toBe(true);
  const renames = parseTrace(traced.trace, traced.roles).filter((c) => /^rename/.test(c.name));
  const targets = new Set(FILES.map((f) => `"${path.join(dry, f)}"`));
  const hits = renames.filter((c) => [...targets].some((t) => c.args.includes(`, ${t}`) || c.args.includes(`${t})`)));
  const target = hits[nth - 1]!;
  expect(target, `the dry run's renames: ${renames.map((r) => r.args).join('\n')}`).toBeDefined();
  const when = target.ordinal;
  const runDir = path.join(work, `run-${action.replace(/\W/g, '')}`);
  cloneDir(template, runDir);
  const run = await runTraced({ ...spec, baseDir: runDir }, ['-e', `trace=${target.name}`, '-e', `inject=${target.name}:${action}:when=${when}${opts.onward ? '+' : ''}`], {
    threads: [target.thread],
    expectKill: action.startsWith('signal='),
  });
  return { runDir, run };
}


describe.runIf(process.platform === 'linux' && hasCommand('strace'))('a snapshot restore interrupted at its second file', () => {
  for (const nth of [1, 3]) it(`killed at file ${nth}: verify() first thing after the crash reports nothing the recovery consumes, repair() fixes nothing`, async () => {
    const work = await tempDir('cp-interrupted-');
    const { template, id } = await snapshotted(work);
    const { runDir } = await atTargetRename(work, template, { op: 'call', method: 'restoreBackup', args: [id] }, nth, 'signal=KILL');
    // Killed half way: one file restored, the others not yet, the intent and its temp files there.
    expect(FILES.map((f) => generation(runDir, f)).sort()).toContain('new');
    expect(findTemps(runDir).length).toBeGreaterThan(0);

    const cp = new ConfigPersistence({ baseDir: runDir, schemaDir: path.join(work, 'no-schemas') });
    try {
      const report = await cp.verify();
      expect(report.problems.filter((p) => p.kind === 'stray-temp')).toEqual([]);
      expect(FILES.map((f) => generation(runDir, f))).toEqual(['old', 'old', 'old']);
      const repaired = await cp.repair();
      expect(repaired.actions.filter((a) => a.action === 'remove-temp')).toEqual([]);
      expect(findTemps(runDir)).toEqual([]);
      expect(readdirSync(path.join(runDir, '.txn'))).toEqual([]);
      expect((await cp.verify()).ok).toBe(true);
    } finally {
      await cp.close();
    }
  }, 60_000);

  it("killed there: the storage's findings() as the very first call finish the commit first and name no temp file it used", async () => {
    const work = await tempDir('cp-interrupted-');
    const { template, id } = await snapshotted(work);
    const { runDir } = await atTargetRename(work, template, { op: 'call', method: 'restoreBackup', args: [id] }, 2, 'signal=KILL');
    const temps = findTemps(runDir);
    expect(temps.length).toBeGreaterThan(0);
    const storage = new LocalStorage(runDir);
    try {
      expect(await storage.findings()).toEqual([]);
      expect(await storage.strayTemps()).toEqual([]);
      expect(FILES.map((f) => generation(runDir, f))).toEqual(['old', 'old', 'old']);
    } finally {
      await storage.close();
    }
  }, 60_000);
});

describe.runIf(process.platform === 'linux' && hasCommand('strace'))('a snapshot restore whose undo fails too', () => {
  it('EIO from the rename of the 2nd file on (the undo of the 1st included): E_IO with the syscall code, and the next open finishes the undo', async () => {
    const work = await tempDir('cp-undo-fails-');
    const { template, id } = await snapshotted(work);
    const { runDir, run } = await atTargetRename(work, template, { op: 'call', method: 'restoreBackup', args: [id] }, 2, 'error=EIO', { onward: true });
    expect(run.result).toMatchObject({ ok: false, code: 'E_IO', syscallCode: 'EIO' });
    // The 1st file could not be put back: what recovery needs to do it later is all still there.
    expect(generation(runDir, 'a.json')).toBe('old');
    expect(readdirSync(path.join(runDir, '.txn')).length).toBeGreaterThan(0);

    const cp = new ConfigPersistence({ baseDir: runDir, schemaDir: path.join(work, 'no-schemas') });
    try {
      expect((await cp.loadConfig<{ gen: string }>('a.json')).gen).toBe('new');
      expect(FILES.map((f) => generation(runDir, f))).toEqual(['new', 'new', 'new']);
      expect(readdirSync(path.join(runDir, '.txn'))).toEqual([]);
      expect(findTemps(runDir)).toEqual([]);
      expect((await cp.verify()).ok).toBe(true);
    } finally {
      await cp.close();
    }
  }, 60_000);
});

describe.runIf(process.platform === 'linux' && hasCommand('strace'))('a save killed between its history line and its rename', () => {
  /** a.json saved as `old`, then a save of `new` killed at the rename that would put it in place. */
  async function killedSave(work: string) {
    const template = path.join(work, 'template');
    await mkdir(template);
    const cp = new ConfigPersistence({ baseDir: template, schemaDir: path.join(work, 'no-schemas') });
    await cp.saveConfig({ gen: 'old' }, 'a.json');
    await cp.close();
    const { runDir } = await atTargetRename(work, template, { op: 'save', file: 'a.json', data: { gen: 'new' } }, 1, 'signal=KILL');
    expect(generation(runDir, 'a.json')).toBe('old');
    expect(readFileSync(path.join(runDir, 'history', 'a.json.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2); // the line of the save that never landed
    return new ConfigPersistence({ baseDir: runDir, schemaDir: path.join(work, 'no-schemas') });
  }

  it('history shows no version that never happened, and ifVersion of the real one still holds', async () => {
    const cp = await killedSave(await tempDir('cp-phantom-'));
    try {
      expect((await cp.history('a.json')).map((v) => v.version)).toEqual([1]);
      const saved = await cp.saveConfig({ gen: 'third' }, 'a.json', { ifVersion: 1 });
      expect(saved.version).toBe(2);
      const versions = await cp.history('a.json');
      expect(versions.map((v) => [v.version, v.operation])).toEqual([[2, 'save'], [1, 'save']]);
      expect(await cp.diff('a.json', 1, 2)).toEqual([{ path: 'gen', type: 'changed', oldValue: 'old', newValue: 'third' }]);
      const repaired = await cp.repair();
      expect(repaired.actions.map((a) => a.action)).toEqual(['remove-temp']);
      expect((await cp.verify()).ok).toBe(true);
      expect((await cp.history('a.json')).map((v) => v.version)).toEqual([2, 1]);
    } finally {
      await cp.close();
    }
  }, 60_000);

  it('verify names it and repair takes it back before it removes the evidence', async () => {
    const cp = await killedSave(await tempDir('cp-phantom-'));
    try {
      const report = await cp.verify();
      expect(report.problems.map((p) => p.kind).sort()).toEqual(['phantom-version', 'stray-temp']);
      await cp.repair();
      expect((await cp.verify()).ok).toBe(true);
      expect((await cp.history('a.json')).map((v) => v.version)).toEqual([1]);
      expect((await cp.saveConfig({ gen: 'next' }, 'a.json', { ifVersion: 1 })).version).toBe(2);
    } finally {
      await cp.close();
    }
  }, 60_000);
});
