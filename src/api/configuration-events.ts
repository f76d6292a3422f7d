/**
 * The listeners of `Configuration#on` and how an error reaches them: a background failure (hot
 * reload) or an exception thrown by a `change` listener goes to the `error` listeners, and with none
 * it is thrown asynchronously, like an unhandled EventEmitter `error`.
 */

/** A subscribed listener (wrapped, so the same function can be subscribed twice). */
export type Listener<E> = { fn: (event: E) => void };

/** Hands an error to the `error` listeners; with none, throws it asynchronously (never swallowed). */
export function reportError(listeners: ReadonlySet<Listener<Error>>, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  if (listeners.size === 0) {
    process.nextTick(() => {
      throw error;
    });
    return;
  }
  for (const listener of [...listeners]) {
    try {
      listener.fn(error);
    } catch (thrown) {
      process.nextTick(() => {
        throw thrown;
      });
    }
  }
}
