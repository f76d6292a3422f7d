/**
 * The fault-injection sweep shared by the fast suite and the stress suite: a dry run lists every
 * file-system call an operation makes; then each call is failed in turn (one fresh copy of the
 * starting directory per call and errno) and the rule is checked:
 *
 * - the process survives and the operation rejects with E_IO carrying the injected errno — or it
 *   resolves, which is only allowed where a failed call has a safe fallback (a copy instead of a
 *   hard link) or comes after everything is durable (closing an fsynced journal), and then the
 *   result is complete;
 * - each target file holds its old content when the failure came before the change was made
 *   visible, and old or new (all targets alike, for multi-file operations) when it came after;
 * - no temp file remains, journals parse, history objects and backups are intact, and the
 *   directory takes the next save.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { DIST, DIST_STORAGE } from '../helpers/tmp.js';
import { callsInside, callShape, cloneDir, FILE_SYSCALLS, parseTrace, runTraced, type OpSpec, type TracedCall } from './inject.js';
import { checkBackups, checkObjects, findTemps, readJournalStrict, walkFiles } from './lib.js';

/** The errors each call is failed with: what a real disk, quota or permission problem returns. */
export const ERRORS: Record<string, string[]> = {
  openat: ['EACCES'],
  pwrite64: ['ENOSPC'],
  write: ['ENOSPC'],
  fsync: ['EIO'],
  fdatasync: ['EIO'],
  rename: ['EXDEV', 'EPERM'],
  renameat2: ['EXDEV', 'EPERM'],
  link: ['EPERM'],
  linkat: ['EPERM'],
  mkdir: ['EACCES'],
  mkdirat: ['EACCES'],
  unlink: ['EIO'],
  unlinkat: ['EIO'],
  close: ['EIO'],
};

/** Calls whose failure may legitimately be absorbed (see the module comment). */
const ABSORBABLE = ['link', 'linkat', 'close'];
/**
 * Removing a finished multi-file commit's bookkeeping (what is left is finished by the next
 * recovery), and releasing a lock after the work is done (a lock left behind names a process whose
 * exit makes it recognisably gone).
 */
const ABSORBABLE_SHAPES = /^unlink(at)? <dir>\/\.txn\/|^(openat|read|close|unlink(at)?|rmdir|unlinkat|newfstatat|fstat) <dir>\/\.locks\//;

/** Figures of a sweep. */
export interface SweepStats {
  injections: number;
  rejected: number;
  resolved: number;
  /** Runs redone because a call outside the operation shifted the count (see sweep). */
  shifted: number;
}

/** What one sweep is about. */
export interface SweepCase {
  /** Prepared starting directory; copied for every run. */
  template: string;
  /** Scratch directory for the copies. */
  work: string;
  spec: Omit<OpSpec, 'baseDir'>;
  /** Files (relative to the base directory) the operation changes. */
  targets: string[];
  /**
   * Further calls (by {@link callShape}) whose failure the operation may absorb and still succeed,
   * e.g. reading the metadata of a profile that is being deleted anyway.
   */
  mayAbsorb?: (shape: string) => boolean;
}

function readOrUndefined(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // a missing file is a state of its own
  }
}

const same = (a: Buffer | undefined, b: Buffer | undefined): boolean => (a === undefined ? b === undefined : b !== undefined && a.equals(b));

/** The argument part of a traced call (without the return value and its fd annotation). */
const argPart = (t: TracedCall): string => t.args.replace(/\)\s+=\s[^=]*$/, '');

/** The first path a call names, as an argument or through an fd (strace -y). */
const firstPath = (t: TracedCall): string | undefined => /"(\/[^"]*)"|<(\/[^>]*)>/.exec(argPart(t).replace(/AT_FDCWD<[^>]*>/g, ''))?.slice(1).find((p) => p !== undefined);

/**
 * The path strace should count `call` on (-P), if any: a write's file always (the thread pool also
 * writes to an eventfd to wake the main loop, a variable number of times, and the main thread writes
 * to stdout); for other calls the first path when every run has it too (inside the directory; no
 * temp name, timestamp, hash or transaction id in it). strace 6.1 matches -P against the first path
 * of rename(2) and link(2) only.
 */
function countedOn(call: TracedCall, dryDir: string): string | undefined {
  if (call.name === 'write') return firstPath(call); // its fd's file
  const first = firstPath(call);
  const inside = first !== undefined && (first === dryDir || first.startsWith(`${dryDir}/`));
  return inside && !/<(temp|stamp|sha|txn)>/.test(callShape({ name: '', args: `"${first}"` }, dryDir)) ? first : undefined;
}

/**
 * Runs the operation in a fresh copy of the template with `action` injected at `call` (on its own
 * thread: see runTraced), and checks that the injection hit that call (same kind, same paths).
 *
 * strace counts the calls of a kind on the thread, and the process makes some of its own at moments
 * that depend on memory use and timing (glibc reads /proc/sys/vm/overcommit_memory on the main
 * thread the first time it shrinks a malloc arena), so a count over all calls can be one off from
 * the dry run's. Where the call has a path every run shares, strace counts only the calls on that
 * path (-P), which nothing else makes. Where it has none (a temp file), a run that hit another call
 * is made again in a fresh copy, the count corrected by the calls inside the directory up to the hit.
 */
async function runAt(
  c: SweepCase,
  call: TracedCall,
  dry: { dryDir: string; calls: TracedCall[] },
  action: string,
  what: string,
  runName: () => string,
  stats?: SweepStats,
): Promise<{ runDir: string; run: Awaited<ReturnType<typeof runTraced>> }> {
  const expected = callShape(call, dry.dryDir);
  const kill = action.startsWith('signal=');
  const onPath = countedOn(call, dry.dryDir);
  // Which call of its kind the target is among those strace counts (1-based).
  const sameKind = dry.calls.filter((d) => d.name === call.name && d.thread === call.thread && d.index <= call.index);
  const rank = onPath === undefined ? sameKind.length : sameKind.filter((d) => firstPath(d) === onPath).length;
  let when = onPath === undefined ? call.ordinal : rank;
  let hit = '';
  for (let attempt = 1; attempt <= 6; attempt++) {
    const runDir = path.join(c.work, runName());
    cloneDir(c.template, runDir);
    const filter = onPath === undefined ? [] : ['-P', onPath.split(dry.dryDir).join(runDir)];
    const args = [...filter, '-e', `trace=${call.name}`, '-e', `inject=${call.name}:${action}:when=${when}`];
    const run = await runTraced({ ...c.spec, baseDir: runDir }, args, { expectKill: kill, threads: [call.thread] }).catch((err: Error) => {
      throw new Error(`${what}: ${err.message}`);
    });
    const traced = parseTrace(run.trace).filter((t) => t.name === call.name);
    // A kill ends the trace at the call it hit; an injected error marks it.
    const at = kill ? traced.length - 1 : traced.findIndex((t) => t.args.includes('(INJECTED)'));
    hit = at >= 0 ? callShape(traced[at]!, runDir) : 'nothing';
    const seen = onPath === undefined ? callsInside(traced.slice(0, at + 1), runDir).length : at + 1;
    if (hit === expected && seen === rank) return { runDir, run };
    if (stats) stats.shifted++;
    if (process.env.CP_FAULT_LOG) console.log(`${what}: attempt ${attempt} (when=${when}) hit ${hit}, ${seen} of its kind inside; again`);
    when = Math.max(1, when + rank - seen); // off by that run's foreign calls (the next run may have others)
  }
  throw new Error(`${what}: the injection kept hitting another call (last: ${hit})`);
}

/** What the dry run tells about an operation. */
interface DryRun {
  dryDir: string;
  calls: TracedCall[];
  oldState: Map<string, Buffer | undefined>;
  newState: Map<string, Buffer | undefined>;
  /** The first call that makes a change visible: a rename over, a link to, or an unlink of a target. */
  visible: TracedCall;
  /** The first call after which a crash may leave the new state (the intent rename, or `visible`). */
  committed: TracedCall;
}

async function dryRun(c: SweepCase): Promise<DryRun> {
  const dryDir = path.join(c.work, 'dry');
  cloneDir(c.template, dryDir);
  const dry = await runTraced({ ...c.spec, baseDir: dryDir }, ['-e', `trace=${FILE_SYSCALLS.join(',')}`]);
  expect(dry.result.ok, JSON.stringify(dry.result)).toBe(true);
  const calls = callsInside(parseTrace(dry.trace, dry.roles), dryDir);
  const oldState = new Map(c.targets.map((t) => [t, readOrUndefined(path.join(c.template, t))]));
  const newState = new Map(c.targets.map((t) => [t, readOrUndefined(path.join(dryDir, t))]));
  for (const t of c.targets) expect(same(oldState.get(t), newState.get(t)), `${t} is changed by the operation`).toBe(false);
  const targetPaths = new Set(c.targets.map((t) => `${dryDir}/${t}`));
  const visible = calls.find((call) => {
    if (!/^(rename|link|unlink)/.test(call.name)) return false;
    const paths = [...call.args.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]!);
    const destination = call.name.startsWith('unlink') ? paths[0] : paths[1];
    return destination !== undefined && targetPaths.has(destination);
  });
  expect(visible, 'the dry run changes a target').toBeDefined();
  // For a crash, the point of no return of a multi-file commit comes earlier: once its intent
  // record is renamed into .txn/, the next open rolls the whole change forward.
  const intent = calls.find((call) => /^rename/.test(call.name) && /\/\.txn\/[^/"]+\.json"/.test(call.args.replace(/^"[^"]*"/, '')));
  const committed = intent && intent.index < visible!.index ? intent : visible!;
  return { dryDir, calls, oldState, newState, visible: visible!, committed };
}

/** The directory after a failure: journals parse, objects and backups are intact, the next save works. */
async function assertUsable(runDir: string, work: string): Promise<void> {
  const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');
  for (const journal of walkFiles(path.join(runDir, 'history')).filter((f) => f.endsWith('.jsonl'))) {
    readJournalStrict(path.join(runDir, 'history', journal));
  }
  checkObjects(runDir);
  checkBackups(runDir);
  const after = new ConfigPersistence({ baseDir: runDir, schemaDir: path.join(work, 'no-schemas') });
  await after.saveConfig({ generation: 'after' }, 'post-check.json');
  expect(await after.loadConfig('post-check.json')).toEqual({ generation: 'after' });
  await after.close();
}

/**
 * Kills the process (SIGKILL, delivered by strace) at each file-system call of the operation in
 * turn: a crash at every point of the write path, deterministically. After each: a first READ
 * (which must finish the interrupted commit first), then every target is all old or all new (old when the kill came before the change
 * was visible), verify reports only interrupted-write artifacts, repair leaves it clean.
 */
export async function crashSweep(c: SweepCase): Promise<{ kills: number }> {
  const { LocalStorage } = (await import(DIST_STORAGE)) as typeof import('../../src/storage/index.js');
  const { verifyAndRepair } = await import('./kill-loop.js');
  const { dryDir, calls, oldState, newState, committed } = await dryRun(c);
  let kills = 0;
  for (const [n, call] of calls.entries()) {
    const what = `kill at ${callShape(call, dryDir)} #${call.ordinal}`;
    let attempt = 0;
    const { runDir } = await runAt(c, call, { dryDir, calls }, 'signal=KILL', what, () => `kill-${n}-${attempt++}`);
    kills++;
    // The first thing after the crash is a read, not a commit: what a reader sees must already be
    // all old or all new (the storage finishes an interrupted commit before any read). Half the
    // kills are read back synchronously (Configuration.openSync's path), half asynchronously.
    const reader = new LocalStorage(runDir);
    const read = new Map<string, Uint8Array | undefined>();
    for (const t of c.targets) read.set(t, n % 2 === 0 ? reader.readSync!(t) : await reader.read(t));
    await reader.close();
    const now = new Map(c.targets.map((t) => [t, readOrUndefined(path.join(runDir, t))]));
    for (const t of c.targets) expect(same(read.get(t) && Buffer.from(read.get(t)!), now.get(t)), `${what}: the first read of ${t} differs from the file`).toBe(true);
    const allOld = c.targets.every((t) => same(now.get(t), oldState.get(t)));
    const allNew = c.targets.every((t) => same(now.get(t), newState.get(t)));
    if (call.index < committed.index) expect(allOld, `${what}: killed before the change, yet targets changed`).toBe(true);
    else expect(allOld || allNew, `${what}: neither all old nor all new`).toBe(true);
    rmSync(path.join(runDir, '.locks'), { recursive: true, force: true }); // the killed holder's
    await verifyAndRepair(runDir, what);
    await assertUsable(runDir, c.work);
  }
  return { kills };
}

/** Runs the sweep; assertions fail the calling test. */
export async function sweep(c: SweepCase): Promise<SweepStats> {
  const { LocalStorage } = (await import(DIST_STORAGE)) as typeof import('../../src/storage/index.js');
  const stats: SweepStats = { injections: 0, rejected: 0, resolved: 0, shifted: 0 };
  const { dryDir, calls, oldState, newState, visible } = await dryRun(c);

  let n = 0;
  for (const call of calls) {
    for (const errno of ERRORS[call.name] ?? []) {
      const what = `${callShape(call, dryDir)} #${call.ordinal} failed with ${errno}`;
      const { runDir, run } = await runAt(c, call, { dryDir, calls }, `error=${errno}`, what, () => `run-${n++}`, stats);
      stats.injections++;
      if (process.env.CP_FAULT_LOG) console.log(`${what} -> ${run.result.ok ? 'resolved' : `${run.result.code}/${run.result.syscallCode}`}`);
      expect(run.exit, `${what}: the process survived (signal ${run.signal}, ${JSON.stringify(run.result).slice(0, 200)})`).toBe(0);

      // What the next open does first: roll forward a multi-file change whose intent is durable.
      await new LocalStorage(runDir).commit({});
      const now = new Map(c.targets.map((t) => [t, readOrUndefined(path.join(runDir, t))]));
      const allOld = c.targets.every((t) => same(now.get(t), oldState.get(t)));
      const allNew = c.targets.every((t) => same(now.get(t), newState.get(t)));
      if (run.result.ok) {
        stats.resolved++;
        const shape = callShape(call, dryDir);
        const absorbable = ABSORBABLE.includes(call.name) || ABSORBABLE_SHAPES.test(shape) || (c.mayAbsorb?.(shape) ?? false);
        expect(absorbable, `${what}: resolved ${JSON.stringify(run.result).slice(0, 300)}`).toBe(true);
        expect(allNew, `${what}: resolved but the result is incomplete`).toBe(true);
      } else {
        stats.rejected++;
        expect(run.result.code, `${what}: ${JSON.stringify(run.result)}`).toBe('E_IO');
        expect(run.result.syscallCode, what).toBe(errno);
        if (call.index < visible.index) {
          expect(allOld, `${what}: failed before the change, yet targets changed`).toBe(true);
          // History records only what happened: no version line for the change that failed.
          for (const t of c.targets) {
            const journal = path.join('history', `${t.replace(/\//g, '~')}.jsonl`);
            expect(same(readOrUndefined(path.join(runDir, journal)), readOrUndefined(path.join(c.template, journal))), `${what}: ${journal} gained a version of a change that never happened`).toBe(true);
          }
        } else expect(allOld || allNew, `${what}: neither all old nor all new`).toBe(true);
      }
      expect(findTemps(runDir), `${what}: temp files left`).toEqual([]);
      await assertUsable(runDir, c.work);
    }
  }
  return stats;
}
