/**
 * Public types of a file's version history.
 */
import type { ChangedBy } from './options.js';

/** One entry of a file's version history. */
export interface VersionInfo {
  version: number;
  /** ISO-8601 UTC. */
  createdAt: string;
  changedBy: ChangedBy;
  reason?: string;
  sha256: string;
  size: number;
  /** The operation that produced it: save, delete, restore, rollback, import, external. */
  operation?: string;
}
