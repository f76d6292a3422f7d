/**
 * Public types of watching files for external changes.
 */
import type { Change } from './documents.js';

/** A watch notification: a valid external change. */
export interface WatchEvent<T = unknown> {
  file: string;
  data: T;
  previous: T | undefined;
  changes: Change[];
}

/** Options of `watch`. */
export interface WatchOptions {
  /** Invalid or unreadable content; the last good data stays current. */
  onError?: (error: Error) => void;
  /** Coalescing window for bursts of events (ms). */
  debounceMs?: number;
  /**
   * A random delay of 0..jitterMs ms before each delivery, so a fleet watching one shared store
   * (etcd) does not reload all at the same instant. Deliveries stay in order; default 0.
   */
  jitterMs?: number;
}

/** A running watch. */
export interface WatchHandle {
  close(): Promise<void>;
}
