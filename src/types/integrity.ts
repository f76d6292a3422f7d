/**
 * Public types of statistics and integrity: `stats()`, `verify` and `repair`.
 */

/** Result of `stats()`. Sizes are bytes on disk. */
export interface Stats {
  /** Top-level config files (`default.*`, `current.*`, ...). */
  configs: number;
  profiles: number;
  backups: {
    /** Backups and snapshots together. */
    count: number;
    snapshots: number;
    totalBytes: number;
    /** ISO-8601 `createdAt` of the oldest and newest backup. */
    oldest?: string;
    newest?: string;
  };
  history: {
    /** Files with a journal. */
    files: number;
    /** Versions recorded across all journals. */
    entries: number;
    /** Journals plus stored version contents. */
    bytes: number;
  };
  bytes: {
    configs: number;
    profiles: number;
    backups: number;
    history: number;
    audit: number;
    total: number;
  };
  /**
   * On a shared, revisioned store (etcd): the newest revision this process has applied, so an
   * operator can compare processes ("has this one seen the change?"). Absent on local storage.
   */
  appliedRevision?: string;
}

/** An integrity problem found by `verify`. */
export interface Problem {
  /** The file, relative to the base directory (`current.yaml`, `profiles/dev.yaml`, `backups/<id>`). */
  path: string;
  kind:
    | 'unparsable'
    | 'too-large'
    | 'schema-invalid'
    | 'missing-parent'
    | 'profile-cycle'
    | 'checksum-mismatch'
    | 'missing-backup'
    | 'unindexed-backup'
    | 'broken-index'
    | 'broken-history'
    | 'phantom-version'
    | 'stray-temp'
    | 'unreadable'
    | 'undecryptable'
    | 'unsafe-path'
    | (string & {});
  message: string;
}

/** Result of `verify`. */
export interface VerifyResult {
  ok: boolean;
  problems: Problem[];
}

/** Options of `repair`. */
export interface RepairOptions {
  /** Report what would be done; write nothing. */
  dryRun?: boolean;
  /**
   * Bring back an unparsable or schema-invalid `current.*` from its newest backup that parses and
   * validates (through the normal write path: the bad content is backed up and quarantined, and the
   * recovery is a new history version) instead of only quarantining it.
   */
  recoverFromBackup?: boolean;
}

/** One thing `repair` did (or, in a dry run, would do). */
export interface RepairAction {
  /** The problem's file, relative to the base directory. */
  path: string;
  /** The problem's kind. */
  kind: Problem['kind'];
  action: 'quarantine' | 'remove-temp' | 'rewrite-history' | 'rewrite-index' | 'drop-record' | 'add-record' | 'recover';
  /** Where the file went (`quarantine/...`), or the backup id it was recovered from. */
  to?: string;
  message: string;
}

/** Result of `repair`. */
export interface RepairReport {
  dryRun: boolean;
  actions: RepairAction[];
  /** Problems repair cannot fix by itself (e.g. a file over maxFileBytes), with what to do. */
  remaining: Problem[];
}
