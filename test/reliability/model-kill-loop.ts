/**
 * kill -9 during a random mix of operations (saves, deletes, backups, restores, profile saves and
 * deletes, snapshots and snapshot restores, bundle imports), checked against a model of what every file must
 * hold. After each kill: interrupted multi-file commits are rolled forward (as the next open does),
 * then every file equals the model, except that the one operation in flight may have happened —
 * entirely, for all its files, or not at all. Every acknowledged labelled backup and snapshot
 * exists and holds what it held when taken.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { expect } from 'vitest';
import { DIST, DIST_STORAGE } from '../helpers/tmp.js';
import { verifyAndRepair } from './kill-loop.js';
import { checkBackups, checkObjects, findTemps, readJournalStrict, sleep, startWorker, walkFiles } from './lib.js';

type Files = Record<string, unknown>;
interface State {
  seq: number;
  files: Files;
  backups: Array<{ id: string; file: string; data: unknown }>;
  snapshots: Array<{ id: string; files: Files }>;
  bundles: Array<{ bundle: unknown; files: Files }>;
}

/** Figures of a run. */
export interface ModelLoopReport {
  kills: number;
  acknowledged: number;
  /** Kills that landed inside an operation (a pending one without its ack). */
  inFlight: number;
  /** In-flight operations found completed after the kill (the rest found not started). */
  completedInFlight: number;
  backups: number;
  snapshots: number;
}

function readData(dir: string, file: string): unknown {
  let text: string;
  try {
    text = readFileSync(path.join(dir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const data = (file.endsWith('.yaml') ? YAML.parse(text) : JSON.parse(text)) as Record<string, unknown>;
  if (data && typeof data === 'object') delete data.$profile;
  return data;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Runs `rounds` kills against `dir` (created by the caller; `stateFile` lives outside it). */
export async function runModelKillLoop(opts: { dir: string; stateFile: string; rounds: number; maxDelayMs: number }): Promise<ModelLoopReport> {
  const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');
  const { LocalStorage } = (await import(DIST_STORAGE)) as typeof import('../../src/storage/index.js');
  const state: State = { seq: 0, files: {}, backups: [], snapshots: [], bundles: [] };
  const report: ModelLoopReport = { kills: 0, acknowledged: 0, inFlight: 0, completedInFlight: 0, backups: 0, snapshots: 0 };
  for (let round = 0; round < opts.rounds; round++) {
    state.seq += 100_000;
    writeFileSync(opts.stateFile, JSON.stringify(state));
    const child = startWorker('model-loop.mjs', [opts.dir, opts.stateFile], { cwd: path.dirname(opts.stateFile) });
    await child.waitFor((l) => l === 'started', 30_000);
    await sleep(Math.random() * opts.maxDelayMs);
    child.proc.kill('SIGKILL');
    const end = await child.exited;
    expect(end.signal, `worker ended by itself: ${child.stderr()}`).toBe('SIGKILL');
    report.kills++;

    let pending: Files | undefined;
    for (const line of child.lines) {
      if (line.startsWith('pending ')) pending = JSON.parse(line.slice(8)) as Files;
      else if (line === 'ack') {
        Object.assign(state.files, pending);
        pending = undefined;
        report.acknowledged++;
      } else if (line.startsWith('backup ')) state.backups.push(JSON.parse(line.slice(7)) as State['backups'][number]);
      else if (line.startsWith('snapshot ')) state.snapshots.push(JSON.parse(line.slice(9)) as State['snapshots'][number]);
      else if (line.startsWith('bundle ')) state.bundles = [...state.bundles.slice(-2), JSON.parse(line.slice(7)) as State['bundles'][number]];
    }
    const context = `round ${round}, in flight: ${JSON.stringify(pending)?.slice(0, 300)}`;

    // What the next open does first: roll interrupted multi-file commits forward.
    await new LocalStorage(opts.dir).commit({});

    const keys = new Set([...Object.keys(state.files), ...Object.keys(pending ?? {})]);
    const actual = Object.fromEntries([...keys].map((f) => [f, readData(opts.dir, f)]));
    if (pending && Object.keys(pending).length > 0) {
      report.inFlight++;
      const pendingKeys = Object.keys(pending);
      const notApplied = pendingKeys.every((f) => same(actual[f], state.files[f]));
      const applied = pendingKeys.every((f) => same(actual[f], pending![f]));
      expect(notApplied || applied, `${context}: all or nothing; found ${JSON.stringify(actual).slice(0, 400)}`).toBe(true);
      if (applied && !notApplied) {
        report.completedInFlight++;
        Object.assign(state.files, pending);
      }
    }
    for (const f of keys) expect(actual[f], `${context}: ${f}`).toEqual(state.files[f] ?? null);

    // Acknowledged labelled backups and snapshots are all there, complete.
    const cp = new ConfigPersistence({ baseDir: opts.dir, schemaDir: path.join(path.dirname(opts.stateFile), 'no-schemas') });
    const listed = new Set((await cp.listBackups()).map((b) => b.id));
    for (const b of state.backups) {
      expect(listed.has(b.id), `${context}: backup ${b.id} listed`).toBe(true);
      expect(readData(path.join(opts.dir, 'backups'), b.id), `${context}: backup ${b.id}`).toEqual(b.data);
    }
    for (const s of state.snapshots) expect(listed.has(s.id), `${context}: snapshot ${s.id} listed`).toBe(true);
    await cp.close();
    checkBackups(opts.dir);
    checkObjects(opts.dir);
    for (const journal of walkFiles(path.join(opts.dir, 'history')).filter((f) => f.endsWith('.jsonl'))) {
      readJournalStrict(path.join(opts.dir, 'history', journal));
    }
    const storage = new LocalStorage(opts.dir);
    const temps = findTemps(opts.dir);
    expect((await storage.strayTemps()).sort(), context).toEqual(temps.sort());
    // The killed holder's locks: recovery by staleness is proven in concurrency.test.ts.
    rmSync(path.join(opts.dir, '.locks'), { recursive: true, force: true });
    await verifyAndRepair(opts.dir, context);
  }
  report.backups = state.backups.length;
  report.snapshots = state.snapshots.length;
  return report;
}
