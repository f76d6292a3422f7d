/**
 * What every view shares: `html` (htm bound to preact), loading data with a reload when the
 * configuration changes, error notes read out by screen readers, value formatting.
 */
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { ApiError } from './api.js';

export { html };

/** What the shell gives every view: the live revision (bumped per change event) and the status line. */
export interface Shell {
  /** Incremented on every committed change set seen on the event stream. */
  revision: number;
  /** Says something in the page's polite live region. */
  announce(message: string): void;
  /** The store's directory (absolute), '' until known. */
  baseDir: string;
}

export const ShellContext = createContext<Shell>({ revision: 0, announce: () => undefined, baseDir: '' });

/** The shell of the page. */
export function useShell(): Shell {
  return useContext(ShellContext);
}

/** A loaded value, reloaded when `deps` or the live revision change. */
export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  reload(): void;
}

/** Runs `load` now, again when `deps` change, and after every change event (unless `live` is false). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], live = true): Loaded<T> {
  const { revision } = useShell();
  const [state, setState] = useState<{ data: T | undefined; error: unknown }>({ data: undefined, error: undefined });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    load().then(
      (data) => current && setState({ data, error: undefined }),
      (error: unknown) => current && setState((s) => ({ data: s.data, error })),
    );
    return () => {
      current = false;
    };
  }, [...deps, tick, live ? revision : 0]);
  return { ...state, reload: useCallback(() => setTick((t) => t + 1), []) };
}

/** The message of anything thrown, with the server's error code. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

/** An error, announced at once (`role="alert"`); nothing when there is none. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return html`<p class="error" role="alert">${messageOf(error)}</p>`;
}

/** A value as one line: strings as they are, everything else as JSON. */
export function show(value: unknown): string {
  if (value === undefined) return '(none)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A date as the reader's local date and time. */
export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Bytes in B / kB. */
export function bytes(n: number): string {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} kB`;
}

/** Runs an action, keeping its error and busy state for the view. */
export function useAction(): { busy: boolean; error: unknown; run<T>(fn: () => Promise<T>): Promise<T | undefined>; clear(): void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await fn();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, clear: () => setError(undefined) };
}
