/**
 * Integrity: `verify` walks everything in the managed directory and reports each problem with its
 * file, a kind and a message; `repair` fixes what can be fixed without losing anything.
 *
 * What is checked, and what repair does about it:
 *
 * | kind               | found where                                  | repair                                        |
 * |--------------------|----------------------------------------------|-----------------------------------------------|
 * | unparsable         | a config or profile that does not parse      | quarantine (or recover `current.*`, if asked) |
 * | schema-invalid     | a config, or a profile in its resolved form  | quarantine (or recover `current.*`, if asked) |
 * | missing-parent     | a profile whose `$profile.extends` is gone   | quarantine                                    |
 * | profile-cycle      | profiles that extend each other in a loop    | reported in `remaining` (a human picks the link) |
 * | checksum-mismatch  | a backup or history object whose bytes differ from their record / name | quarantine (+ drop the record) |
 * | missing-backup     | an index record whose backup file is gone    | drop the record                               |
 * | unindexed-backup   | a backup file without a record               | add the record, or quarantine if unreadable   |
 * | broken-index       | damaged lines in `backups/index.jsonl`       | rewrite it with its readable records          |
 * | broken-history     | damaged or torn lines in a history journal   | rewrite it with its readable lines            |
 * | phantom-version    | a newest version whose write never landed (writer killed before its rename; its staged content is the evidence) | take it back with a `{"void":n}` line |
 * | stray-temp         | leftovers of an interrupted write (the storage's findings(): temp files, orphaned intent links) | its fix (remove it) |
 * | too-large          | a file over `maxFileBytes`                   | nothing (raise the limit or shrink the file)  |
 * | undecryptable      | an encrypted backup, history content or live file that this key cannot open (no key, another key, changed bytes) | nothing (a person decides: the right key, a restore) |
 *
 * Never deleting user data: files go to `quarantine/` with a move (which never overwrites), under a
 * name that cannot collide (`current.20261123T081218.123Z.yaml`, then `-2`, `-3`...); journals and
 * the index are quarantined (hard link) before they are rewritten. Only our own temp files are
 * removed. Every action is its own durable commit with an audit line (`op: "repair"`), and a
 * quarantined config or profile gets a history version (`operation: "quarantine"`).
 *
 * Layout: this file is the entry (`verify`, `repair`, `repairLockKeys`); the checks and their
 * findings are in src/integrity/checks.ts, the fixes and their application in src/integrity/repair.ts.
 *
 * The caller (ConfigPersistence) holds the locks of every config, profile and journal while
 * repairing, so no save interleaves with it.
 */
import type { Context } from '../core/context.js';
import { unflattenKey } from '../core/keys.js';
import { HISTORY_DIR } from '../history/journal.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import type { RepairAction, RepairOptions, RepairReport, VerifyResult } from '../types.js';
import { inspect, isSafeKey, toProblem, unreadableFinding } from './checks.js';
import { applyFix, describeFix, ordered } from './repair.js';

export { QUARANTINE_DIR, readableJournalLines } from './repair.js';

/** How many verify → fix rounds repair runs at most (fixing a parent can expose its children). */
const MAX_PASSES = 5;

/** Checks everything; see the module comment for what is checked. */
export async function verify(ctx: Context): Promise<VerifyResult> {
  const findings = await inspect(ctx);
  return { ok: findings.length === 0, problems: findings.map(toProblem) };
}

/**
 * Fixes what {@link verify} finds (see the module comment), re-checking after each round because a
 * fix can expose another problem (a quarantined parent leaves its children without one). A dry run
 * reports the first round's actions and writes nothing.
 */
export async function repair(ctx: Context, opts: RepairOptions = {}): Promise<RepairReport> {
  const dryRun = Boolean(opts.dryRun);
  let findings = await inspect(ctx);
  const actions: RepairAction[] = [];
  const taken = new Set<string>();
  if (dryRun) {
    for (const finding of ordered(findings)) if (finding.fix) actions.push(await describeFix(ctx, finding, finding.fix, opts, taken));
    return { dryRun, actions, remaining: findings.filter((f) => !f.fix).map(toProblem) };
  }
  // Every fix records history or backups: with a bookkeeping path that leads outside the base
  // directory nothing can be written safely, so nothing is, until a person replaces the link.
  if (findings.some((f) => f.kind === 'unsafe-path')) return { dryRun, actions, remaining: findings.map(toProblem) };
  let previous = '';
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const fixable = ordered(findings).filter((f) => f.fix);
    const signature = fixable.map((f) => `${f.kind}\u0000${f.path}`).join('\n');
    // The same problems again after a round means the fixes do not take: stop rather than loop.
    if (fixable.length === 0 || signature === previous) break;
    previous = signature;
    for (const finding of fixable) {
      const action = await applyFix(ctx, finding, finding.fix!, opts, taken);
      if (action) actions.push(action);
    }
    findings = await inspect(ctx);
  }
  return { dryRun, actions, remaining: findings.map(toProblem) };
}

/** The keys repair must hold the locks of: every config and profile, and every file with a journal. */
export async function repairLockKeys(ctx: Context): Promise<string[]> {
  const [documents, history] = await Promise.all([
    configAndProfileKeys(ctx),
    // A history/ that cannot be listed (a link leaving the base) is reported by verify; repair leaves it alone.
    ctx.storage.list(HISTORY_DIR).catch((err: unknown) => (unreadableFinding(HISTORY_DIR, err) ? [] : Promise.reject(err))),
  ]);
  const journaled = history
    .filter((e) => e.kind === 'file' && e.name.endsWith('.jsonl') && !e.name.startsWith('.'))
    .map((e) => unflattenKey(e.name.slice(0, -'.jsonl'.length)))
    .filter((file) => isSafeKey(file));
  return [...new Set([...documents, ...journaled])].sort();
}
