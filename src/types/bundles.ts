/**
 * Public types of export bundles: selection, items, the bundle itself, writing and importing.
 */
import type { ChangedBy } from './options.js';

/** What `exportBundle` / `writeBundle` include. Omit both for everything. */
export interface BundleSelection {
  /** Profile names, or `true` for every profile. */
  profiles?: readonly string[] | boolean;
  /** Config file names (`current`, `default.yaml`...), or `true` for every config. */
  configs?: readonly string[] | boolean;
  /**
   * Export the values the schema marks secret (`x-secret`, `writeOnly`) as they are. By default
   * they are `"***"` (listed in each item's `redacted`), and an import keeps the target's values
   * there.
   */
  includeSecrets?: boolean;
  /**
   * Wrap the bundle in an {@link EncryptedBundle} (AES-256-GCM with the store's key). Default for
   * `writeBundle`, the CLI's `export` and the admin API's `POST export`: true when a key is set;
   * for `exportBundle` (an object in your own process): false. `true` without a key is `E_VALIDATION`.
   */
  encrypt?: boolean;
}

/**
 * A bundle encrypted with the store's key: `data` is the bundle's JSON as one encrypted object
 * (docs/encryption.md), base64. `importBundle` takes it like a plain bundle, given the same key.
 */
export interface EncryptedBundle {
  format: 'config-persistence-bundle-encrypted';
  version: 1;
  /** Id of the key it is encrypted with (never the key). */
  keyId: string;
  data: string;
}

/** One file inside a bundle. */
export interface BundleItem {
  kind: 'config' | 'profile';
  /** The name without extension (`current`, `production`). */
  name: string;
  /** The file format (extension): `yaml`, `json`... */
  format: string;
  /** The parsed document (a profile's includes its `$profile` block). */
  data: unknown;
  /** sha256 (hex) of `data` in canonical JSON (keys sorted, no whitespace). */
  sha256: string;
  /** Dot paths of secret values exported as `"***"` (absent when none were hidden). */
  redacted?: string[];
}

/** An export bundle: one JSON document holding configs and profiles, with checksums. */
export interface Bundle {
  format: 'config-persistence-bundle';
  /** Layout version of the bundle. */
  version: number;
  tool: { name: string; version: string };
  /** ISO-8601 UTC. */
  exportedAt: string;
  /**
   * The schema version (migrations) of the directory the items were exported from; absent: 0. An
   * import into a directory at a newer version migrates the items first, one at an older is refused.
   */
  schemaVersion?: number;
  itemCount: number;
  items: BundleItem[];
  /** sha256 (hex) of the canonical JSON of every other field of the bundle. */
  checksum: string;
}

/** What `writeBundle` wrote. */
export interface BundleWriteResult {
  /** Absolute path of the bundle file. */
  path: string;
  itemCount: number;
  checksum: string;
  /** Bytes written. */
  size: number;
  /** Id of the key the file is encrypted with; absent for a plain bundle. */
  keyId?: string;
}

/** Options of `importBundle`. */
export interface ImportOptions {
  /** What to do when a config or profile of the same name exists. Default `skip`. */
  onConflict?: 'skip' | 'rename' | 'overwrite';
  /** Return the plan; write nothing. */
  dryRun?: boolean;
  changedBy?: ChangedBy;
  reason?: string;
}

/** One bundle item in an import report. */
export interface ImportedItem {
  kind: 'config' | 'profile';
  /** The name it has (or would have) in the directory. */
  name: string;
  /** Its file, relative to the base directory. */
  file: string;
  /** For a renamed item: its name in the bundle. */
  originalName?: string;
  /** For a skipped item: `exists` (onConflict skip) or `identical` (same content already there). */
  reason?: 'exists' | 'identical';
  /** For an overwritten item: the backup of the content it replaced. */
  backup?: string;
}

/** What an import did (or, in a dry run, would do). */
export interface ImportReport {
  dryRun: boolean;
  created: ImportedItem[];
  renamed: ImportedItem[];
  overwritten: ImportedItem[];
  skipped: ImportedItem[];
  /** The `pre-import` snapshot taken before anything was written. */
  snapshot?: string;
  /** The bundle's schema version and the directory's, when the items were migrated to import them. */
  migrated?: { from: number; to: number };
}
