/**
 * config-persistence — configuration in plain JSON/YAML files that is never lost or corrupted.
 * This file only re-exports; each feature lives in its own module.
 */
export { ConfigPersistence } from './api/config-persistence.js';
export {
  ConfigPersistenceError,
  ParseError,
  ValidationError,
  NotFoundError,
  InvalidNameError,
  ConflictError,
  LockedError,
  ChecksumError,
  ClosedError,
  StaleError,
  TooLargeError,
  IOError,
} from './errors.js';
export type { ErrorCode, ValidationIssue } from './errors.js';
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

// Watching (src/watch/watch.ts)
export { DEFAULT_DEBOUNCE_MS } from './watch/watch.js';
