/**
 * config-persistence — configuration in plain JSON/YAML files that is never lost or corrupted.
 * This file only re-exports; each feature lives in its own module.
 */
export { ConfigPersistence } from './config-persistence.js';
export {
  ConfigPersistenceError,
  ParseError,
  ValidationError,
  NotFoundError,
  InvalidNameError,
  ConflictError,
  LockedError,
  ChecksumError,
  TooLargeError,
  IOError,
} from './errors.js';
export type { ErrorCode, ValidationIssue } from './errors.js';
export { LocalStorage } from './storage/local.js';
export type { LocalStorageOptions } from './storage/local.js';
export { jsonCodec, yamlCodec } from './codecs/index.js';
export { mergeDocuments, diffDocuments, getPath, setPath, deletePath, hasPath } from './document.js';
export type * from './types.js';

// Profiles and Configuration (src/profiles.ts, src/configuration.ts)
export { Configuration, PROFILE_ENV } from './configuration.js';
export type { ConfigurationSaveOptions } from './configuration.js';
export { ProfileCycleError, PROFILE_META_KEY } from './profiles.js';
export { ACTIVE_PROFILE_KEY } from './active-profile.js';
export { parseEnvValue } from './env.js';

// Backups, snapshots, history (src/backups.ts, src/snapshots.ts, src/history.ts)

// Bundles, integrity (src/bundles.ts, src/integrity.ts)
export { BUNDLE_FORMAT, BUNDLE_VERSION, canonicalJson } from './bundles.js';
export { QUARANTINE_DIR } from './integrity.js';

// Watching (src/watch.ts)
export { DEFAULT_DEBOUNCE_MS } from './watch.js';
