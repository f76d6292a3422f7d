/**
 * config-persistence — configuration in plain JSON/YAML files that is never lost or corrupted.
 * This file only re-exports; each feature lives in its own module.
 */
import { ConfigPersistence as Store } from './api/config-persistence.js';
import type { ConfigOf, ConfigPersistenceOptions, SchemaOption } from './types.js';

/**
 * The constructor of {@link ConfigPersistence}, typed so that a schema declared `as const` gives the
 * document type: `new ConfigPersistence({ schema })`. An explicit `new ConfigPersistence<T>()` wins.
 */
export interface ConfigPersistenceConstructor {
  /** Creates a store over `options.baseDir` (default `config`); see the class for the details. */
  new <T = never, const S extends SchemaOption = SchemaOption>(options?: ConfigPersistenceOptions<S>): ConfigPersistence<ConfigOf<T, S>>;
  readonly prototype: ConfigPersistence<any>;
}

/** A store of configuration documents of type `T`; see {@link ConfigPersistenceConstructor}. */
export type ConfigPersistence<T = Record<string, unknown>> = Store<T>;
/** Keeps an application's configuration in plain JSON/YAML files and never loses or corrupts them. */
export const ConfigPersistence = Store as ConfigPersistenceConstructor;
export {
  ConfigPersistenceError,
  ParseError,
  ValidationError,
  NotFoundError,
  InvalidNameError,
  ConflictError,
  LockedError,
  ChecksumError,
  DecryptionError,
  ClosedError,
  StaleError,
  TooLargeError,
  IOError,
} from './errors.js';
export type { DecryptionReason, ErrorCode, ValidationIssue } from './errors.js';

// Encryption at rest (src/encryption/)
export { ENCRYPTED_BUNDLE_FORMAT } from './encryption/bundles.js';
export { KEY_ENV, KEY_FILE_ENV } from './encryption/key-source.js';
export { jsonCodec, jsoncCodec, tomlCodec, yamlCodec } from './codecs/index.js';
export { mergeDocuments, diffDocuments, getPath, setPath, deletePath, hasPath } from './document/tree.js';
export type * from './types.js';

// Profiles and Configuration (src/profiles/chain.ts, src/profiles/profiles.ts, src/api/configuration.ts)
export { Configuration, PROFILE_ENV } from './api/configuration.js';
export type { ConfigurationSaveOptions } from './api/configuration.js';
export { ProfileCycleError, PROFILE_META_KEY } from './profiles/chain.js';
export { ACTIVE_PROFILE_KEY } from './profiles/active.js';
export { parseEnvValue } from './api/env.js';

// Backups, snapshots, history (src/backups/backups.ts, src/backups/snapshots.ts, src/history/journal.ts)

// Bundles, integrity (src/bundles/bundles.ts, src/integrity/integrity.ts)
export { BUNDLE_FORMAT, BUNDLE_VERSION, canonicalJson } from './bundles/format.js';
export { QUARANTINE_DIR } from './integrity/integrity.js';

// Migrations (src/migrations/migrate.ts)
export { MigrationError } from './migrations/migrate.js';

// Watching (src/watch/watch.ts)
export { DEFAULT_DEBOUNCE_MS } from './watch/watch.js';
