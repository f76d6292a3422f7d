/**
 * Public types of migrations: the steps an application declares, and what a run reports.
 */
import type { ChangedBy } from './options.js';
import type { Change } from './documents.js';
import type { BackupInfo } from './backups.js';

/** What a migration step is told about the document it is given. */
export interface MigrationContext {
  /** The storage key: `current.yaml`, `default.json`, `profiles/dev.yaml`. */
  key: string;
  /** As shown to humans: `config/profiles/dev.yaml`. */
  file: string;
  /** `profile` for a file under `profiles/` (its `$profile` metadata is not part of `doc`), else `config`. */
  kind: 'config' | 'profile';
  /** The profile's name, for a profile. */
  profile?: string;
  /** The version the document is at before this step. */
  from: number;
  /** The version this step brings it to (the step's own `version`). */
  to: number;
}

/**
 * One step of a migration chain. `up` gets a copy of each config and profile document at the
 * previous version and returns it at `version` (or changes the copy in place and returns nothing).
 * It may be async. A step that throws, or a chain whose result the schema refuses, changes nothing.
 */
export interface Migration {
  /** The directory version after this step: a whole number >= 1, unique in the list. */
  version: number;
  /** Shown by `config-persistence migrate` and in messages. */
  description?: string;
  up(doc: any, ctx: MigrationContext): unknown;
}

/** Options of `migrate()`. */
export interface MigrateOptions {
  /** Compute and report the changes without writing anything. */
  dryRun?: boolean;
  /** Recorded in history and the audit log. Default `system`. */
  changedBy?: ChangedBy;
  /** Show secret values in the report's changes instead of `"***"`. */
  includeSecrets?: boolean;
}

/** One document of a migration run. */
export interface MigratedFile {
  /** The storage key (`profiles/dev.yaml`). */
  key: string;
  /** As shown to humans. */
  file: string;
  kind: 'config' | 'profile';
  /** Whether the chain changed the document (unchanged files are not rewritten). */
  changed: boolean;
  /** The changes by dot path, secrets redacted unless asked for. */
  changes: Change[];
  /** The version the file is at after the run (its history version), when it was written. */
  version?: number;
  /** The backup of its old content, when one was taken. */
  backup?: BackupInfo;
}

/** What `migrate()` did, or with `dryRun` would do. */
export interface MigrationReport {
  /** The directory version before the run (0 when none was recorded). */
  from: number;
  /** The directory version after it: the newest migration's. */
  to: number;
  dryRun: boolean;
  /** The steps that ran (or would run), oldest first. */
  steps: Array<{ version: number; description?: string }>;
  files: MigratedFile[];
}
