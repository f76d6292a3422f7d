/**
 * `config-persistence/storage`: the storage interface every backend implements, and the backends
 * that ship with the package. An application only needs this subpath to choose or write a backend.
 */
export { LocalStorage } from './local/local.js';
export type { LocalStorageOptions } from './local/local.js';
export { MemoryStorage, MemoryVolume } from './memory.js';
export type { MemoryFault, MemoryStorageOptions } from './memory.js';
export type * from './types.js';
