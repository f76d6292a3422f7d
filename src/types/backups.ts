/**
 * Public types of backups and snapshots: records, triggers, restore, retention and automatic backups.
 */
import type { ChangedBy } from './options.js';

/** Why a backup was taken. */
export type BackupTrigger =
  | 'overwrite'
  | 'delete'
  | 'manual'
  | 'pre-restore'
  | 'scheduled'
  | 'pre-import'
  | 'pre-rollback'
  | 'pre-repair'
  | (string & {});

/** A backup, as listed by `listBackups`. */
export interface BackupInfo {
  id: string;
  /** The backed-up file, relative to the base directory (`current.yaml`, `profiles/dev.yaml`); for a snapshot, `*`. */
  file: string;
  /** ISO-8601 UTC. */
  createdAt: string;
  size: number;
  sha256: string;
  label?: string;
  compressed: boolean;
  trigger: BackupTrigger;
  /** `snapshot` for whole-directory backups. */
  kind?: 'file' | 'snapshot';
  /** For a snapshot: the files it holds. */
  files?: string[];
}

// Backups, snapshots, history, statistics (src/backups/backups.ts, src/backups/snapshots.ts, src/history/versions.ts, src/integrity/stats.ts)

/** Options of `createBackup`. */
export interface BackupOptions {
  /** Free text kept in the record and (as a slug) in the id. A labelled backup is pinned: retention never removes it. */
  label?: string;
}

/** Options of `createSnapshot`. */
export interface SnapshotOptions {
  /** Free text kept in the record and (as a slug) in the id. A labelled snapshot is pinned: retention never removes it. */
  label?: string;
  /** The files to include (`current`, `default.yaml`, `profiles/dev`); default: every config and profile. */
  scope?: string[];
}

/** Who and why, for operations that record a history version (restore, rollback). */
export interface ChangeOptions {
  changedBy?: ChangedBy;
  reason?: string;
}

/** What `restoreBackup` did. */
export interface RestoreResult {
  /** The backup (or snapshot) that was restored. */
  restored: BackupInfo;
  /** The backup (or, for a snapshot, the snapshot) of what was replaced; absent when nothing changed or nothing existed. */
  safetyBackup?: BackupInfo;
  /** For a snapshot: the files written or removed. */
  files?: string[];
}

/** Options of `cleanupBackups`; each defaults to the instance option (`maxBackups`, `maxBackupAgeMs`). */
export interface CleanupOptions {
  /** Keep at most this many unpinned backups per file (snapshots count as one file, `*`). */
  maxBackups?: number;
  /** Remove unpinned backups older than this (ms). */
  maxAgeMs?: number;
}

/** What `cleanupBackups` removed. */
export interface CleanupResult {
  removed: BackupInfo[];
}

/** Options of `startAutoBackup`. */
export interface AutoBackupOptions {
  /** Time between rounds (ms). */
  intervalMs: number;
  /** Take one snapshot per round instead of one backup per changed file. Default false. */
  snapshot?: boolean;
  /** A round that failed (the next round still runs). Default: a process warning. */
  onError?: (error: Error) => void;
}
