/**
 * The kill -9 loop shared by the fast crash suite and the stress suite: a worker performs one kind
 * of operation in a loop and prints each acknowledged one; it is killed at a random instant; then
 * the directory is checked from the outside against what was acknowledged.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { expect } from 'vitest';
import { DIST, DIST_STORAGE } from '../helpers/tmp.js';
import { checkBackups, checkObjects, findTemps, readJournalStrict, sleep, startWorker } from './lib.js';

/** Options of {@link runKillLoop}. */
export interface KillLoopOptions {
  mode: 'save' | 'yaml' | 'update';
  dir: string;
  rounds: number;
  /** Kill after a random delay in [0, maxDelayMs) once the worker has started its loop. */
  maxDelayMs: number;
  /**
   * Remove the killed worker's lock directory instead of waiting ~5 s for it to go stale. The
   * staleness recovery itself is proven in concurrency.test.ts; here it would only cap the number
   * of kills. When false, every next worker has to recover the lock on its own.
   */
  clearLocks: boolean;
  padBytes?: number;
}

/** Figures of one run. */
export interface KillLoopReport {
  kills: number;
  acknowledged: number;
  /** Temp files found after kills (all of them must be reported as stray by the storage). */
  temps: number;
  backupsChecked: number;
}

const FILES = { save: 'current.json', yaml: 'settings.yaml', update: 'counter.json' } as const;

/**
 * After a kill: `verify()` may report stray temp files and backups without a record or records
 * without a backup (interrupted writes), nothing else; `repair()` fixes them; then `verify()` is clean and no temp file is left. Run from a separate instance, as an operator
 * (or the next start of the application) would.
 */
export async function verifyAndRepair(dir: string, context: string): Promise<void> {
  const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');
  const cp = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, '..', 'no-schemas') });
  try {
    // Only what a kill can legitimately leave: temp files of interrupted writes, records of backups
    // whose removal by retention was interrupted (files go first), backups whose record was not
    // yet appended (file and record are written side by side), and an append torn at a page
    // boundary of its journal (see readJournalStrict), and a history line of a save killed before its
    // rename, with its staged temp file as the evidence (phantom-version). Repair fixes all of them.
    const before = await cp.verify();
    const allowed = ['stray-temp', 'missing-backup', 'unindexed-backup', 'broken-index', 'broken-history', 'phantom-version'];
    expect(before.problems.filter((p) => !allowed.includes(p.kind)), `${context}: verify after the kill`).toEqual([]);
    await cp.repair();
    const after = await cp.verify();
    expect(after.problems, `${context}: verify after repair`).toEqual([]);
    expect(findTemps(dir), `${context}: temp files after repair`).toEqual([]);
  } finally {
    await cp.close();
  }
}

/** Runs the loop; every round asserts (vitest `expect`) and the figures are returned. */
export async function runKillLoop(opts: KillLoopOptions): Promise<KillLoopReport> {
  const { LocalStorage } = (await import(DIST_STORAGE)) as typeof import('../../src/storage/index.js');
  const storage = new LocalStorage(opts.dir);
  const file = FILES[opts.mode];
  const target = path.join(opts.dir, file);
  const journal = path.join(opts.dir, 'history', `${file}.jsonl`);
  const report: KillLoopReport = { kills: 0, acknowledged: 0, temps: 0, backupsChecked: 0 };
  let maxAcked = 0;
  let maxVersion = 0;
  for (let round = 0; round < opts.rounds; round++) {
    // cwd = the directory itself, so no schemas/ of the repository applies to the worker.
    const child = startWorker('loop.mjs', [opts.mode, opts.dir, String(opts.padBytes ?? 2000)], { cwd: opts.dir });
    await child.waitFor((l) => l === 'started', 30_000);
    // Half the rounds let the first operation finish first, so a slow start on a loaded machine
    // cannot turn every kill into a kill before anything happened.
    if (round % 2 === 1) await child.waitFor((l) => l.startsWith('ack '), 30_000);
    await sleep(Math.random() * opts.maxDelayMs);
    child.proc.kill('SIGKILL');
    const end = await child.exited;
    // The worker must have been running until the kill: an exit of its own is a failure.
    expect(end.signal, `worker ended by itself: ${child.stderr()}`).toBe('SIGKILL');
    report.kills++;
    for (const line of child.lines) {
      const m = /^ack (\d+) (\d+)$/.exec(line);
      if (!m) continue;
      report.acknowledged++;
      maxAcked = Math.max(maxAcked, Number(m[1]));
      maxVersion = Math.max(maxVersion, Number(m[2]));
    }
    const context = `round ${round}, last acknowledged seq ${maxAcked}`;
    if (maxAcked === 0) continue;

    // The file is complete (it parses) and holds the last acknowledged state or the one after it.
    const text = readFileSync(target, 'utf8');
    const doc = (opts.mode === 'yaml' ? YAML.parse(text) : JSON.parse(text)) as { seq: number };
    expect(doc.seq, context).toBeGreaterThanOrEqual(maxAcked);
    expect(doc.seq, context).toBeLessThanOrEqual(maxAcked + 1);

    // The history journal is intact and records every acknowledged version.
    const entries = readJournalStrict(journal);
    expect(entries.at(-1)!.v, context).toBeGreaterThanOrEqual(maxVersion);
    // What is on disk now is the state the next worker continues from, acknowledged or not.
    maxAcked = doc.seq;

    // Content-addressed history objects and backups are complete copies.
    checkObjects(opts.dir);
    report.backupsChecked += checkBackups(opts.dir);

    // Leftover temp files are recognised as stray, verify reports nothing else, repair leaves the
    // directory verifying clean with no temp file.
    const temps = findTemps(opts.dir);
    report.temps += temps.length;
    expect((await storage.strayTemps()).sort(), context).toEqual(temps.sort());
    if (opts.clearLocks) rmSync(path.join(opts.dir, '.locks'), { recursive: true, force: true });
    await verifyAndRepair(opts.dir, context);
    // After repair: a version of a save killed before its rename was taken back, and the next
    // worker's save reuses its number.
    maxVersion = readJournalStrict(journal).at(-1)!.v;
  }
  return report;
}
