/**
 * The application's public types, one module per concern under `types/`; this file only
 * re-exports them. Feature modules import from here; `index.ts` re-exports. The storage protocol
 * (what a backend implements) lives in `storage/types.ts` and is exported from the
 * `config-persistence/storage` subpath only.
 */
import type { ValidationIssue } from './errors.js';

export type * from './types/options.js';
export type * from './types/documents.js';
export type * from './types/backups.js';
export type * from './types/history.js';
export type * from './types/profiles.js';
export type * from './types/configuration.js';
export type * from './types/integrity.js';
export type * from './types/bundles.js';
export type * from './types/watch.js';
export type * from './types/inferred.js';
export type * from './types/encryption.js';
export type * from './types/migrations.js';

export type { ValidationIssue };
