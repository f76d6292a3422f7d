/**
 * The locks of a {@link MemoryVolume}: one holder per name, waiters woken in turn when it is
 * released, `E_LOCKED` for a waiter whose time ran out.
 */
import { LockedError } from '../errors.js';
import type { Release } from './types.js';

/** Exclusive named locks shared by the instances of one volume. */
export class MemoryLocks {
  private readonly holders = new Set<string>();
  private readonly waiters = new Map<string, Array<() => void>>();

  /** Takes `name`, waiting up to `timeoutMs`; `display` names it in the error. */
  async acquire(name: string, timeoutMs: number, display: string): Promise<Release> {
    const deadline = Date.now() + timeoutMs;
    while (this.holders.has(name)) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.waitFor(name, left))) {
        throw new LockedError(`${display} is locked by another holder; retry later.`, name);
      }
    }
    this.holders.add(name);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      this.holders.delete(name);
      this.waiters.get(name)?.shift()?.();
    };
  }

  /** Resolves true when `name` is released (this waiter's turn), false after `ms`. */
  private waitFor(name: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const queue = this.waiters.get(name) ?? [];
      this.waiters.set(name, queue);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = queue.indexOf(wake);
        if (i >= 0) queue.splice(i, 1);
        resolve(false);
      }, ms);
      queue.push(wake);
    });
  }
}
