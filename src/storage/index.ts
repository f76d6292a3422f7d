/**
 * `config-persistence/storage`: the storage interface every backend implements, and the backends
 * that ship with the package. An application only needs this subpath to choose or write a backend.
 */
export { LocalStorage } from './local/local.js';
export type { LocalStorageOptions } from './local/local.js';
export type {
  AppendOp,
  AppendSync,
  Commit,
  CopyOp,
  LockOptions,
  MoveOp,
  PutOp,
  Release,
  RemoveOp,
  Storage,
  StorageEntry,
  StorageWatcher,
  StorageWatchEvent,
} from '../types.js';
