/**
 * Public types of documents and saves: what `saveConfig` takes and returns, a change between two
 * documents, and the typed views of a config type (deep partial/read-only, dot paths).
 */
import type { BackupInfo } from './backups.js';
import type { ChangedBy } from './options.js';

/** Options of `saveConfig`. */
export interface SaveOptions {
  changedBy?: ChangedBy;
  reason?: string;
  /** Reject with `E_CONFLICT` unless the file's current version is this one. */
  ifVersion?: number;
  /**
   * Reject with `E_CONFLICT` unless the file's current content has this sha256 (hex): the guard for
   * content that has no version, changed outside config-persistence or never saved through it
   * (see `loadVersioned`). `''`: unless the file does not exist.
   */
  ifSha256?: string;
}

/** What a save produced. */
export interface SaveResult {
  /** The file's path (as shown to humans, e.g. `config/current.yaml`). */
  path: string;
  /** The new version number in the file's history. */
  version: number;
  /** sha256 (hex) of the bytes written. */
  sha256: string;
  /** The backup taken of the previous content, when there was one. */
  backup?: BackupInfo;
}

/** One change between two documents, by dot path. */
export interface Change {
  path: string;
  type: 'added' | 'removed' | 'changed';
  oldValue?: unknown;
  newValue?: unknown;
}

/** A deep partial of a config type: what a profile or an override may hold. */
export type DeepPartial<T> = T extends readonly (infer E)[]
  ? readonly E[] | E[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** A deeply read-only view of a config type: what `Configuration#data` hands out (it is frozen). */
export type DeepReadonly<T> = T extends (infer E)[]
  ? ReadonlyArray<DeepReadonly<E>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type PathDepth = [never, 0, 1, 2, 3, 4, 5, 6, 7];

/**
 * The dot paths of a config type (`'server' | 'server.port' | 'allowedOrigins.0' ...`), for typed
 * `get`/`set`. Open-ended types (`Record<string, unknown>`) allow any string.
 */
export type ConfigPath<T, D extends number = 8> = [D] extends [never]
  ? never
  : T extends readonly (infer E)[]
    ? `${number}` | `${number}.${ConfigPath<E, PathDepth[D]>}`
    : T extends object
      ? string extends keyof T
        ? string
        : { [K in keyof T & string]: K | `${K}.${ConfigPath<NonNullable<T[K]>, PathDepth[D]>}` }[keyof T & string]
      : never;

/** The type of the value at dot path `P` of `T` (`unknown` when it cannot be known). */
export type PathValue<T, P extends string> = P extends `${infer K}.${infer R}`
  ? K extends keyof T
    ? PathValue<NonNullable<T[K]>, R>
    : T extends readonly (infer E)[]
      ? PathValue<E, R>
      : unknown
  : P extends keyof T
    ? T[P]
    : T extends readonly (infer E)[]
      ? E
      : unknown;
