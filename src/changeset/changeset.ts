/**
 * The changeset: the one pipeline every user-visible change goes through — a save, delete, update,
 * restore, rollback, snapshot restore, import, repair's quarantine and recovery, a profile copy,
 * rename or delete, a change of the active profile. One file or many, it is planned and committed
 * the same way, in these steps:
 *
 * 1. Backups of the content about to be replaced (hard links where the backend can, see
 *    backups/backups.ts), all recorded by one index append.
 * 2. A history version per file (history/journal.ts); a version whose old content is held by the
 *    backup just planned links no history object (retention later moves the backup there).
 * 3. Own writes announced before they become visible, so watchers recognise them by content.
 * 4. Retention of the files' older backups, folded into the same commit as best-effort cleanup
 *    (removed while its last fsyncs run); history contents no kept version needs are removed in
 *    background passes no save waits for (history/pruning.ts).
 * 5. One storage commit: `prepare` (backups, versions, index) durable before `changes`, which are
 *    all-or-nothing; the audit line after them, so it never describes what did not happen.
 * 6. Caches brought up to date from what was written (journals, the backup index) and own writes
 *    marked landed — in this one place, whatever the change was.
 */
import { auditAppend, type AuditEntry } from './audit.js';
import { freeBackupId, planBackup } from '../backups/backups.js';
import { BACKUP_INDEX, indexAppendOp, loadIndex, serialize, type IndexLine, type IndexView } from '../backups/records.js';
import { planRetention, type RetentionPlan } from '../backups/retention.js';
import type { Context } from '../core/context.js';
import { journalKey, keepsHistory, planVersion, rememberAppend, type Journal, type JournalLine } from '../history/journal.js';
import { keepContents, maybePruneHistory } from '../history/pruning.js';
import type { BackupInfo, BackupTrigger, ChangedBy } from '../types.js';
import type { AppendOp, Commit, CopyOp, Expectation, MoveOp, PutOp, RemoveOp } from '../storage/types.js';

/** A file's content before a change, as the pipeline backs it up. */
export interface OldContent {
  bytes: Uint8Array;
  text: string;
  sha256: string;
  mode?: number;
  /** The storage revision it was read at. */
  revision?: string;
}

/** One file's part of a changeset. */
export interface FileChange {
  key: string;
  /** The new content; absent for a removal. */
  next?: { bytes: Uint8Array; sha256: string; mode?: number };
  /** A removal that keeps the bytes under this key instead of deleting them (repair's quarantine). */
  moveTo?: string;
  /** The content being replaced, as read under the lock. */
  old: OldContent | undefined;
  /** The file's journal as read under the lock; omitted for bookkeeping without history. */
  journal?: Journal;
  /** The history operation recorded for this file: save, delete, restore, import, quarantine... */
  operation: string;
  /** Back up `old` first, taken for this reason; no backup when absent. */
  backup?: BackupTrigger;
  /**
   * The revision the change was computed from, when older than `old`'s (see WriteMeta.basedOn);
   * `null`: computed from no file. Default: `old`'s revision, or absent when there was no file.
   */
  basedOn?: string | null;
}

/** What a changeset records about itself, and what it changes. */
export interface Changeset {
  files: readonly FileChange[];
  changedBy: ChangedBy;
  reason?: string;
  now: Date;
  /** Made durable before the change, beside the planned backups (a safety snapshot, a quarantine copy). */
  prepare?: Array<PutOp | CopyOp | AppendOp>;
  /** Backups the caller planned into `prepare`: recorded in the index and counted by retention. */
  taken?: readonly BackupInfo[];
  /** The audit line, made from the planned versions (`at`, `changedBy` and `reason` are filled in). */
  audit: (planned: readonly PlannedFile[]) => Omit<AuditEntry, 'at' | 'changedBy' | 'reason'>;
  /** Locks the caller went without, which nobody else may hold at commit time (Commit.respectLocks). */
  unlocked?: readonly string[];
  /** Lookups started beside the read of the old content (see {@link lookAhead}); `now` is then theirs. */
  lookahead?: Lookahead;
}

/**
 * What a write's backup will need, looked up in the same turn as the read of the content it
 * replaces: the backup index's state and a free backup id for the file at `now`. On a networked
 * backend the lookups of one turn travel as one call (src/storage/etcd/batch.ts), so the save
 * reads once before its commit instead of twice; locally they are a stat each, as before.
 */
export interface Lookahead {
  now: Date;
  index: Promise<IndexView>;
  ids: ReadonlyMap<string, Promise<{ id: string; take(): void }>>;
}

/** Starts the {@link Lookahead} of a write of `key` that will take an automatic backup. */
export function lookAhead(ctx: Context, key: string): Lookahead {
  const now = new Date();
  const index = serialize(ctx, () => loadIndex(ctx));
  const id = freeBackupId(ctx, key, now, undefined, ctx.options.compressBackups);
  // Awaited by the commit when it takes the backup; a write that takes none (no old content, the
  // same bytes) leaves them: no unhandled rejection.
  index.catch(() => undefined);
  id.catch(() => undefined);
  return { now, index, ids: new Map([[key, id]]) };
}

/** One file of a changeset as planned (and, once committed, as done). */
export interface PlannedFile {
  key: string;
  /** The version recorded; `undefined` for bookkeeping without history. */
  version: number | undefined;
  sha256: string;
  backup?: BackupInfo;
}

/** What a committed changeset did. */
export interface ChangesetResult {
  files: PlannedFile[];
  /** Every backup the changeset took (the caller's first). */
  backups: BackupInfo[];
}

interface Plan {
  prepare: Array<PutOp | CopyOp | AppendOp>;
  changes: Array<PutOp | RemoveOp | MoveOp>;
  files: PlannedFile[];
  backups: BackupInfo[];
  journals: Array<{ key: string; journal: Journal; op: AppendOp; lines: JournalLine[] }>;
  /** Journals under their pre-injective names, linked to today's: removed after the change. */
  movedJournals: string[];
}

/** Plans, commits and records a changeset; the caller holds the lock of every file in it. */
export async function commitChangeset(ctx: Context, cs: Changeset): Promise<ChangesetResult> {
  // The index's state and the new backups' names are independent reads: made together (on a
  // networked backend such as etcd that is one round trip before the commit instead of two).
  const index = cs.lookahead?.index ?? (cs.files.some((f) => f.old && f.backup) || (cs.taken?.length ?? 0) > 0 ? serialize(ctx, () => loadIndex(ctx)) : undefined);
  index?.catch(() => undefined); // awaited by recordBackups; a failed plan must not leave it unhandled
  const plan = await planChangeset(ctx, cs);
  const retention = plan.backups.length > 0 ? await recordBackups(ctx, plan, index) : undefined;
  await keepContents(ctx, cs.files.flatMap((f) => [f.next?.sha256, f.old?.sha256]));
  const cleanup = withRemovals(retention?.cleanup, plan.movedJournals);
  announce(ctx, cs.files);
  const appending = ctx.state.appending;
  for (const j of plan.journals) appending.set(j.key, (appending.get(j.key) ?? 0) + j.op.data.byteLength);
  // The index lines this commit writes, until the view takes them in (see loadIndex).
  const indexState = ctx.state.backupIndex;
  const landed: Uint8Array[] = [];
  const settle = (): void => {
    for (const chunk of landed.splice(0)) indexState.landed.delete(chunk);
  };
  try {
    await ctx.storage.commit({
      expect: fences(cs.files),
      prepare: plan.prepare,
      changes: plan.changes,
      ...(cleanup ? { cleanup } : {}),
      after: [auditLine(cs, plan.files)],
      ...(cs.unlocked ? { respectLocks: cs.unlocked } : {}),
      appended: (key, data) => {
        if (key !== BACKUP_INDEX) return;
        landed.push(data);
        indexState.landed.add(data);
      },
    });
  } catch (err) {
    settle(); // whatever landed is read as anyone else's line
    throw err;
  } finally {
    for (const j of plan.journals) {
      const left = (appending.get(j.key) ?? 0) - j.op.data.byteLength;
      if (left > 0) appending.set(j.key, left);
      else appending.delete(j.key);
    }
  }
  for (const j of plan.journals) {
    rememberAppend(ctx, j.key, j.journal, j.op.data, j.lines);
    delete j.journal.from; // carried over to today's name
  }
  for (const f of cs.files) ctx.ownWrites.landed(f.key, f.next?.sha256 ?? '', f.next?.bytes);
  // A name may now resolve to another file (`current` to a new `current.yaml`, or to nothing).
  if (cs.files.some((f) => !f.old || !f.next)) ctx.state.keys.clear();
  try {
    if (retention) await retention.done(settle);
  } finally {
    settle();
  }
  for (const f of cs.files) if (f.journal) maybePruneHistory(ctx, f.key); // a background pass (history/pruning.ts)
  return { files: plan.files, backups: plan.backups };
}

async function planChangeset(ctx: Context, cs: Changeset): Promise<Plan> {
  const plan: Plan = { prepare: [...(cs.prepare ?? [])], changes: [], files: [], backups: [...(cs.taken ?? [])], journals: [], movedJournals: [] };
  for (const file of cs.files) {
    const backup = file.old && file.backup ? await planFileBackup(ctx, cs, file, plan) : undefined;
    const version = file.journal ? planFileVersion(cs, file, file.journal, backup, plan) : undefined;
    plan.changes.push(changeOf(file));
    plan.files.push({ key: file.key, version, sha256: file.next?.sha256 ?? '', ...(backup ? { backup } : {}) });
  }
  return plan;
}

async function planFileBackup(ctx: Context, cs: Changeset, file: FileChange, plan: Plan): Promise<BackupInfo> {
  const old = file.old!;
  const planned = await planBackup(ctx, {
    key: file.key,
    content: { bytes: old.bytes, sha256: old.sha256, ...(old.mode !== undefined ? { mode: old.mode } : {}) },
    trigger: file.backup!,
    now: cs.now,
    ...(cs.lookahead?.ids.has(file.key) ? { id: cs.lookahead.ids.get(file.key)! } : {}),
  });
  // Its record goes into the changeset's one index append (recordBackups).
  for (const op of planned.ops) if (!(op.type === 'append' && op.key === BACKUP_INDEX)) plan.prepare.push(op);
  plan.backups.push(planned.info);
  return planned.info;
}

function planFileVersion(cs: Changeset, file: FileChange, journal: Journal, backup: BackupInfo | undefined, plan: Plan): number {
  const planned = planVersion({
    key: file.key,
    journal,
    ...(file.old ? { old: { sha256: file.old.sha256, size: file.old.bytes.byteLength } } : {}),
    ...(file.next ? { next: { sha256: file.next.sha256, size: file.next.bytes.byteLength } } : {}),
    changedBy: cs.changedBy,
    ...(cs.reason !== undefined ? { reason: cs.reason } : {}),
    operation: file.operation,
    ...(backup ? { backupId: backup.id } : {}),
    now: cs.now,
  });
  // A journal under its pre-injective name: linked to today's name first (the append then extends
  // the same journal), the old name removed once the change is visible.
  if (journal.from) {
    plan.prepare.push({ type: 'copy', from: journal.from, to: journalKey(file.key), ifMissing: true });
    plan.movedJournals.push(journal.from);
  }
  for (const op of planned.ops) {
    // The backup just planned holds the old content: no history object until it is removed (it
    // then becomes the object, see keepsHistory), one link and one directory fsync fewer.
    if (op.type === 'copy' && backup && keepsHistory(backup)) continue;
    plan.prepare.push(op);
    if (op.type === 'append' && op.key === journalKey(file.key)) plan.journals.push({ key: file.key, journal, op, lines: planned.lines });
  }
  return planned.version;
}

function changeOf(file: FileChange): PutOp | RemoveOp | MoveOp {
  if (file.next) return { type: 'put', key: file.key, data: file.next.bytes, ...(file.next.mode !== undefined ? { mode: file.next.mode } : {}) };
  if (file.moveTo !== undefined) return { type: 'move', from: file.key, to: file.moveTo };
  return { type: 'remove', key: file.key };
}

/**
 * Adds the one index append recording every backup of the changeset and plans their files'
 * retention against the index as it is now.
 */
async function recordBackups(ctx: Context, plan: Plan, loading: Promise<IndexView> | undefined): Promise<RetentionPlan> {
  // One stat when this instance's view is current; the append then starts a fresh line after a torn tail.
  const view = await (loading ?? serialize(ctx, () => loadIndex(ctx)));
  const lines: IndexLine[] = plan.backups.map((info) => ({ op: 'add', ...info }));
  // The backup files are durable before the change; their records soon after: a power cut in
  // between loses only the trigger (listings rebuild a record from its file, as `recovered`).
  const record: AppendOp = Object.assign(indexAppendOp(ctx, lines), { sync: 'soon' as const });
  plan.prepare.push(record);
  return planRetention(ctx, view, { lines, data: record.data }, plan.backups);
}

function auditLine(cs: Changeset, files: readonly PlannedFile[]): AppendOp {
  const { op, file, ...rest } = cs.audit(files);
  return auditAppend({ at: cs.now.toISOString(), op, file, changedBy: String(cs.changedBy), ...(cs.reason !== undefined ? { reason: cs.reason } : {}), ...rest });
}

/**
 * Recorded before the change becomes visible: a watcher that reads the new bytes must already know
 * they are ours (decided by content, not timing). A failed commit leaves a stale entry, which at
 * worst hides an external write of exactly the bytes this store tried to write.
 */
function announce(ctx: Context, files: readonly FileChange[]): void {
  for (const f of files) {
    if (f.next) ctx.ownWrites.set(f.key, f.next.sha256);
    else ctx.ownWrites.delete(f.key);
  }
}

/**
 * Fencing: each file must still be at the revision its change was computed from when the commit
 * makes it visible — a lock holder that stalled, was stopped or was judged dead and replaced can
 * then never overwrite what another writer committed meanwhile (`StaleError`, nothing written).
 */
function fences(files: readonly FileChange[]): Expectation[] {
  const out: Expectation[] = [];
  for (const f of files) {
    const revision = f.basedOn !== undefined ? f.basedOn : f.old ? f.old.revision : null;
    if (revision !== undefined) out.push({ key: f.key, revision });
  }
  return out;
}

/** A commit's cleanup with `keys` removed too (records only for the cleanup's own keys). */
function withRemovals(cleanup: Commit['cleanup'], keys: readonly string[]): Commit['cleanup'] {
  if (keys.length === 0) return cleanup;
  if (!cleanup) return { keys, records: () => [] };
  const own = new Set(cleanup.keys);
  return {
    ...cleanup,
    keys: [...cleanup.keys, ...keys],
    records: (removed) => cleanup.records(removed.filter((key) => own.has(key))),
  };
}
