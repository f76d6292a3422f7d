/**
 * The storage protocol: the single interface between the features and the place bytes live.
 * Exported from `config-persistence/storage` only (the root export is what an application uses).
 *
 * Everything above it speaks in keys (`current.yaml`, `profiles/dev.yaml`, `backups/x.json`),
 * never in file-system paths, and the interface is small enough for a key-value store with
 * transactions, leases and watch (etcd) to implement natively:
 *
 * | member            | local directory (LocalStorage)          | key-value store (MemoryStorage, etcd)   |
 * |-------------------|-----------------------------------------|-----------------------------------------|
 * | read / readEntry  | open + fstat                            | get                                     |
 * | stat              | lstat                                   | get without the value                   |
 * | list              | readdir of one directory                | range over `prefix/`, folded at the `/` |
 * | commit            | temp files, renames, an intent journal  | one transaction with compares           |
 * | lock              | a lock file naming its owner, leased    | a lease                                 |
 * | watch             | chokidar on the keys' directories       | watch from a revision                   |
 *
 * File-system notions (temp files, paths, directory fsyncs) stay inside the local backend.
 */

/** One stored entry. `key` uses `/` separators and is relative to the storage root. */
export interface StorageEntry {
  key: string;
  /** Last path segment of `key`. */
  name: string;
  /** A `directory` is a prefix other keys live under (a key-value store reports it, it does not store it). */
  kind: 'file' | 'directory';
  size: number;
  mtimeMs: number;
  /** Permission bits, where the backend has them. */
  mode?: number;
  /**
   * An opaque token that changes whenever the content changes (and, as far as the backend can
   * tell, only then): compare it for equality, never order it. Local storage: the file's device,
   * inode, size and change times; MemoryStorage: the volume's commit counter when the key last
   * changed (etcd: the key's `mod_revision`). Used in {@link Commit.expect}.
   */
  revision: string;
}

/**
 * Replace (or create) `key` with `data` atomically. Key-value store: a put.
 */
export interface PutOp {
  type: 'put';
  key: string;
  data: Uint8Array;
  /** Permission bits for a new file; an existing file keeps its own. */
  mode?: number;
  /** See {@link CopyOp.unreferenced}. */
  unreferenced?: boolean;
}

/**
 * Preserve the current content of `from` under the new key `to` (local: a hard link where
 * possible). Key-value store: the same bytes stored again under `to` (a get then a put in the same
 * transaction). Fails when `from` does not exist, or when `to` exists (unless `ifMissing`).
 */
export interface CopyOp {
  type: 'copy';
  from: string;
  to: string;
  /** Content-addressed targets: an existing `to` already holds the same bytes, so skip quietly. */
  ifMissing?: boolean;
  /**
   * In `prepare`: the target is a new key that nothing names until this commit's own records do
   * (a backup's object, named only by the index line the same commit appends). A backend that
   * must split a commit over its transaction limit (etcd) may write it in an earlier transaction:
   * until the last one lands it is an unrecorded leftover, never part of what readers see as
   * changed. Not for content-addressed keys, which other commits may start naming meanwhile.
   */
  unreferenced?: boolean;
}

/**
 * Append `data` (one record: one or more complete lines) to the journal `key`; creates it when
 * missing. Local storage appends to one file. A key-value store, which has no append, stores each
 * record under a key of its own beneath the journal's (for instance `<key>/<revision>`); reading
 * the journal key returns its records concatenated in the order they were committed, and its size
 * is theirs together. A `put` or `remove` of the journal key replaces or removes all of them.
 */
export interface AppendOp {
  type: 'append';
  key: string;
  data: Uint8Array;
  /**
   * When the line must be on disk. A relaxed line is still written where it stands (before the
   * change in `prepare`, after it in `after`), so a crash of the process never loses it; only a
   * power cut can:
   * - `'commit'` (default): durable before the change is visible (`prepare`) or before the commit
   *   resolves (`after`);
   * - `'soon'`: fsynced in the background shortly after (the local storage: within 100 ms;
   *   `close()` flushes at once), for records whose facts are also kept durably elsewhere or can
   *   be rebuilt (the audit log: the history journal records who, why, when and the checksum; the
   *   record of a backup taken by a write: listings rebuild a lost one from the backup file);
   * - `'lazy'`: never fsynced on its own; the next synced append to the same file persists it, for
   *   records that can be rebuilt (the backup index's removal records: the index reconciles with
   *   the directory).
   * A backend whose commits are durable as a whole (a replicated transaction) treats all three alike.
   */
  sync?: AppendSync;
  /**
   * The record describes this commit's change and belongs to it alone (a file's history line): if
   * the commit fails before its change is visible, the record must not remain. Backends with
   * transactions get this for free; the local one takes the append back.
   */
  ofChange?: boolean;
}

/** See {@link AppendOp.sync}. */
export type AppendSync = 'commit' | 'soon' | 'lazy';

/** Remove `key` (no error when it is already gone). Key-value store: a delete (of a journal's records too). */
export interface RemoveOp {
  type: 'remove';
  key: string;
}

/**
 * Move `from` to `to` (used to quarantine files; never overwrites an existing `to`). Key-value
 * store: a put of `from`'s bytes under `to` and a delete of `from` in one transaction.
 */
export interface MoveOp {
  type: 'move';
  from: string;
  to: string;
}

/** A compare condition of {@link Commit.expect}. */
export interface Expectation {
  key: string;
  /** The {@link StorageEntry.revision} the key must still have; `null`: the key must not exist. */
  revision: string | null;
}

/**
 * One durable unit of work. When `commit` resolves every operation is durable.
 *
 * - `expect` is checked before anything is written: when a key's revision differs, the commit
 *   rejects with `ConflictError` (`E_CONFLICT`) and writes nothing (the compare of a compare-and-set).
 * - `prepare` takes effect before any change is visible: backups of the content about to be
 *   replaced, journal entries that describe the change, new bookkeeping files.
 * - `changes` are the user-visible replacements and removals, each atomic on its own; with more
 *   than one key the whole set is applied all-or-nothing (a crash rolls it forward on next open).
 * - `after` appends are written once the changes are visible (the audit log), so they never
 *   describe something that did not happen.
 *
 * A key-value store with transactions applies all of it (prepare, changes, after and the cleanup's
 * removals and records) as one transaction whose compares are `expect`: the phases then only say
 * what a backend without transactions must order.
 */
export interface Commit {
  /**
   * Compare conditions, checked before anything becomes visible. Local storage checks them at the
   * start of the commit; commits that must not interleave with another writer's take the same
   * lock (the check and the renames are not one system call there). Key-value stores compare in
   * the transaction itself.
   */
  expect?: Expectation[];
  prepare?: Array<PutOp | CopyOp | AppendOp>;
  changes?: Array<PutOp | RemoveOp | MoveOp>;
  after?: AppendOp[];
  /**
   * On an {@link Storage.optimistic} backend: locks the caller did not take for this commit, which
   * no other process may hold when it applies (compared in the same transaction); `E_LOCKED` when
   * one is held, nothing written. The caller then takes the lock and tries again.
   */
  respectLocks?: readonly string[];
  /**
   * Told, synchronously, as soon as an append of this commit has been written to its key (before
   * the commit resolves, whatever it then does): a caller that keeps a parse of the key knows the
   * key's length now includes those bytes. Optional for a backend (one that never calls it leaves
   * the caller reading the key again, as without it).
   */
  appended?: (key: string, data: Uint8Array) => void;
  /**
   * Best-effort removals made once the changes are visible (retention of old backups taken by the
   * same commit): a key that cannot be removed is left for the next pass instead of failing the
   * commit. `records` gets the keys actually gone and returns appends (index and audit lines) that
   * are written with `after`, so the removals cost no commit of their own. Neither waits for the
   * disk: removals and records are made while the commit's last fsyncs run, the removals are never
   * fsynced (one lost in a power cut brings back a file the next pass removes again), and a record
   * is at most `'soon'` durable (AppendOp.sync).
   */
  cleanup?: {
    keys: readonly string[];
    /**
     * Keys to keep under another name instead of removing (renamed there unless that name exists,
     * then removed): a backup whose content history still needs becomes its history object. One
     * rename, so a power cut leaves it under one name or the other, never under none.
     */
    keepAs?: ReadonlyMap<string, string>;
    records: (removed: readonly string[]) => AppendOp[];
  };
  /**
   * Default true. `false` skips the fsyncs, for bookkeeping that is safe to lose in a power cut and
   * that the next synced commit in the same directories persists anyway (backup retention: a lost
   * removal only brings back a backup the next pass removes again).
   */
  sync?: boolean;
}

/**
 * Releases a lock. Safe to call twice. A release that fails leaves a lock the backend frees by
 * itself (a local lock stops being renewed and goes stale; an etcd lock goes with its lease).
 */
export type Release = () => Promise<void>;

/** Options for {@link Storage.lock}. */
export interface LockOptions {
  /** How long to wait for a held lock before failing with `E_LOCKED` (ms). */
  timeoutMs?: number;
}

/** An event from {@link Storage.watch}: `key` was created, changed or removed by someone. */
export interface StorageWatchEvent {
  type: 'change' | 'remove';
  key: string;
  /**
   * The bytes were modified in place (not replaced by a rename): the writer may still be writing,
   * so a reader should see the same content twice before trusting it.
   */
  inPlace?: boolean;
  /**
   * The store's revision of the change, where the backend has one (etcd): events of one commit
   * share it and arrive together, so a listener can tell one change set from the next.
   */
  revision?: string;
  /**
   * The key's complete content at `revision`, when the backend's watch already carries it and a
   * change is atomic (etcd): the watcher delivers it without a debounce or a re-read.
   */
  value?: Uint8Array;
}

/** A running {@link Storage.watch}. */
export interface StorageWatcher {
  /** Watches exactly these keys from now on (a profile switch changes a configuration's files). */
  update(keys: readonly string[]): Promise<void>;
  /** Releases every handle; no event is reported afterwards. */
  close(): Promise<void>;
}

/**
 * Something a backend found in its own bookkeeping (not in the documents): `verify` reports it as a
 * problem, `repair` applies its `fix`. Local storage: temp files left by interrupted writes.
 */
export interface StorageFinding {
  /** The key it concerns (`Problem.path`). */
  key: string;
  /** The problem's kind (`stray-temp`, ...). */
  kind: string;
  /** What is wrong and what repair does about it, naming the key. */
  message: string;
  /**
   * The repair: a commit made through the normal write path (repair adds its audit line to it),
   * the name of the action repair reports (`remove-temp`) and what it does, in the imperative
   * (`remove config/.current.yaml.1-2-ab.cp-tmp`). Absent: nothing the backend can fix.
   */
  fix?: { action: string; description: string; commit: Commit };
}

/** Options of {@link Storage.read}, {@link Storage.readEntry} and {@link Storage.readSync}. */
export interface ReadOptions {
  /** Refuse a larger value with `E_TOO_LARGE` (before reading it, where the backend can). */
  maxBytes?: number;
}

/**
 * The single interface between the features and the place bytes live.
 * Implementations: `LocalStorage` (a directory) and `MemoryStorage`. Keys are validated by the
 * implementation (`E_INVALID_NAME`): relative, `/`-separated, no empty, `.` or `..` segment, no NUL
 * or backslash; none may leave the root.
 */
/** What {@link Storage.prestage} returns. */
export interface PrestagedPut {
  /** Discards the staged work unless a commit used it; safe to call more than once. */
  release(): void;
}

export interface Storage {
  /** Human-readable location used in messages (an absolute directory for local storage). */
  readonly location: string;
  /**
   * A shared, revisioned backend (etcd): the newest revision of the store this process has
   * applied, from its own commits and its watches (`stats()` and `status` show it). Absent elsewhere.
   */
  readonly appliedRevision?: string;
  /** Whether commits are made durable (fsync) before resolving. */
  readonly durable: boolean;
  /**
   * Commits compare every key they change with the revision it was read at, in one transaction
   * with {@link Commit.respectLocks}: a single-file write may then go without taking the lock (one
   * round trip less each way on a networked store) and retry when it loses a race (`StaleError`).
   * Absent (false) on local storage, where the lock is cheap and the check is not atomic.
   */
  readonly optimistic?: boolean;
  /**
   * Runs a single-file write (its reads, then its one commit) whose reads may be answered from
   * what this process last committed or read, without asking the store (etcd: one call per save
   * instead of two). Only for writes whose commit compares everything they read: a stale answer
   * makes that commit fail with `StaleError`, never apply, and the caller retries with fresh
   * reads. `fn` makes the write's reads and its commit through the storage it is given (a view of
   * this one that carries the write's scope); loads never go through it, so they stay
   * linearizable. Absent: reads are always fresh.
   */
  readForWrite?<R>(fn: (scoped: Storage) => Promise<R>): Promise<R>;
  /** Content of `key`, or `undefined` when it does not exist. */
  read(key: string, opts?: ReadOptions): Promise<Uint8Array | undefined>;
  /** Content and metadata of `key` read together (one consistent view), or `undefined` when it does not exist. */
  readEntry(key: string, opts?: ReadOptions): Promise<{ bytes: Uint8Array; entry: StorageEntry } | undefined>;
  /**
   * Synchronous read for startup code that cannot await (`Configuration.openSync`). Optional: a
   * remote store has none, and `openSync` on it fails with `E_UNSUPPORTED`.
   */
  readSync?(key: string, opts?: ReadOptions): Uint8Array | undefined;
  /** Metadata of `key`, or `undefined` when it does not exist. */
  stat(key: string): Promise<StorageEntry | undefined>;
  /** Direct children of `prefix` ('' is the root), sorted by key; empty when there are none. */
  list(prefix: string): Promise<StorageEntry[]>;
  /**
   * Optional: the names of the files directly in `prefix`, sorted, without their entries — for a
   * backend where an entry costs its content (etcd keeps a file's size in its value, so listing
   * 100 history contents of 1 MB read 100 MB). Without it, callers take the names from `list`.
   */
  fileNames?(prefix: string): Promise<string[]>;
  /**
   * Applies a {@link Commit} durably. Rejects with `E_CONFLICT` when an expectation fails (nothing
   * written), with `E_IO` on a failed write (the old content kept, nothing half-applied visible).
   */
  commit(commit: Commit): Promise<void>;
  /**
   * Advance notice that a commit will soon put `data` (this very array) at `key`: a backend whose
   * put has a slow part of its own starts it now, while the caller plans the rest of the commit
   * (the local storage writes the temp file and starts its fsync). Optional and advisory: a commit
   * with a put of the same key and array uses what was staged, any other commit works as without
   * it. The caller calls `release()` once that commit has settled (or will not be made); what no
   * commit used is then discarded.
   */
  prestage?(key: string, data: Uint8Array): PrestagedPut;
  /** Cross-process exclusive lock named `name`; a crashed holder is recovered automatically. `E_LOCKED` after `timeoutMs`. */
  lock(name: string, opts?: LockOptions): Promise<Release>;
  /**
   * Reports changes of `keys` by anyone, this process included, once the watch is armed (the
   * promise resolves then). Events may be duplicated or coalesced, never lost for good: a reader
   * re-reads the key. Keys that do not exist yet are watched too.
   */
  watch(keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void): Promise<StorageWatcher>;
  /** Display path of a key, for messages (`config/current.yaml`). */
  describe(key: string): string;
  /** Backend-specific problems for `verify` and their fixes for `repair` (see {@link StorageFinding}). */
  findings?(): Promise<StorageFinding[]>;
  /**
   * sha256 (hex) of each content a writer that is gone staged for `key` but never put in place (a
   * process killed between its commit's journal lines and the rename). Evidence that such a line
   * describes a change that never happened. Backends whose commits are one atomic step have none
   * and leave this out.
   */
  abandonedContent?(key: string): Promise<string[]>;
  /** Releases handles and timers. */
  close(): Promise<void>;
}
