/**
 * Public types of profiles: metadata, loaded and listed profiles, and the options of the profile operations.
 */
import type { ChangedBy } from './options.js';

/**
 * Profile metadata kept under `$profile` in the profile file. `extends` names one parent or several
 * (merged in the order listed, each parent's own chain first); chains may be of any depth.
 */
export interface ProfileMeta {
  extends?: string | string[];
  description?: string;
}

/** A loaded profile. */
export interface Profile<T = Record<string, unknown>> {
  name: string;
  data: T;
  meta: ProfileMeta;
  /** The profiles merged into `data`, lowest first, ending with this one (`[name]` with `resolve: false`). */
  chain?: string[];
}

/** A profile, as listed. */
export interface ProfileInfo {
  name: string;
  format: string;
  extends?: string | string[];
  description?: string;
  size: number;
  updatedAt: string;
  /** Set when the file cannot be read as a profile (unparsable, bad `$profile`): what is wrong with it. */
  problem?: string;
}

/** Options of `saveProfile`. */
export interface SaveProfileOptions {
  /**
   * Parent profile(s). Omitted: an existing profile keeps its parents. `null` (or `[]`) removes them.
   */
  extends?: string | string[] | null;
  /** Shown in `listProfiles` and the CLI. Omitted: kept; `null` removes it. */
  description?: string | null;
  changedBy?: ChangedBy;
  reason?: string;
}

/** Options of `loadProfile`. */
export interface LoadProfileOptions {
  /** Merge the `extends` chain into `data` (default true); `false` gives the profile's own values, unvalidated. */
  resolve?: boolean;
}

/** Options of `deleteProfile`. */
export interface DeleteProfileOptions {
  /**
   * Delete even when other profiles extend this one or it is the persisted active profile (the
   * choice is then cleared). Without it those cases are refused with `E_CONFLICT`.
   */
  force?: boolean;
  changedBy?: ChangedBy;
  reason?: string;
}

/** Options of `copyProfile` and `renameProfile`. */
export interface CopyProfileOptions {
  /** Replace an existing target profile (it is backed up first). Default false: `E_CONFLICT`. */
  overwrite?: boolean;
  changedBy?: ChangedBy;
  reason?: string;
}
