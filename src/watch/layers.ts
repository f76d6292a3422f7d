/**
 * Hot reload of a layered configuration (`Configuration.open({ watch: true })`): one `watchKeys`
 * (src/watch/watch.ts) over every file of the stack, and the names of the files that stack needs
 * (each layer under every extension, the parents its profiles name).
 */
import type { Context } from '../core/context.js';
import { isPlainObject } from '../document/tree.js';
import { readDocument, type StoredDocument } from '../changeset/documents.js';
import { PROFILES_DIR } from '../core/keys.js';
import { assertProfileName } from '../core/names.js';
import type { WatchHandle } from '../types.js';
import { watchKeys, type KeysWatch } from './watch.js';

/** Reads a document for a layer resolution (the signature of `readDocument`). */
export type ReadDocument = (ctx: Context, key: string) => Promise<StoredDocument | undefined>;

/** Options of {@link watchLayerFiles}. */
export interface LayerWatchOptions {
  /** The storage keys the layer stack reads now; asked again after every reload (the chain may change). */
  keys(): readonly string[];
  /**
   * Re-resolves the whole stack, reading documents through `read`: the watch's settled content for
   * the files it watches (never a half-written file), the disk for the others.
   */
  reload(read: ReadDocument): Promise<unknown>;
  /** Invalid layer files and failed reloads. */
  report(error: Error): void;
  debounceMs?: number;
}

/** A running {@link watchLayerFiles}. */
export interface LayerWatch extends WatchHandle {
  /** Watches the files `keys()` names now (after a profile switch). */
  refresh(): Promise<void>;
}

/**
 * Hot reload of a layered configuration (`Configuration.open({ watch: true })`): ONE watch over
 * every file of the stack — `default.*`, each profile of the chain, `current.*`, each under every
 * known extension, since creating `current.json` next to nothing changes which file is read. Each
 * settled change (a valid parse, or a confirmed deletion: layers are optional) re-resolves the whole
 * stack once; changes during a reload cause one more. Layer files are only parsed here; the merged
 * result is validated by the reload. An empty layer file counts as `{}`, as at startup.
 */
export async function watchLayerFiles(ctx: Context, opts: LayerWatchOptions): Promise<LayerWatch> {
  let closed = false;
  let running = false;
  let again = false;
  let watch: KeysWatch | undefined;
  const read: ReadDocument = async (c, key) => {
    const snap = watch?.snapshot(key);
    return snap ? snap.doc : readDocument(c, key);
  };
  // The stack's files, plus the parents the watched profiles name: a reload that failed on a
  // missing parent must hear when that parent is created.
  const wanted = (): string[] => {
    const keys = [...opts.keys()];
    for (const key of keys.filter((k) => k.startsWith(`${PROFILES_DIR}/`))) {
      for (const parent of parentsNamed(watch?.snapshot(key)?.doc?.data)) keys.push(`${PROFILES_DIR}/${parent}.yaml`);
    }
    return layerCandidates(keys);
  };
  /** Watches what the stack needs now; true when a newly watched file exists (the reload may have missed it). */
  const refresh = async (): Promise<boolean> => {
    if (closed || !watch) return false;
    const next = wanted();
    const added = next.filter((key) => watch!.snapshot(key) === undefined);
    await watch.update(next);
    return added.some((key) => watch!.snapshot(key)?.doc !== undefined);
  };
  const reload = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        try {
          await opts.reload(read);
        } catch (err) {
          if (!closed) opts.report(err instanceof Error ? err : new Error(String(err)));
        }
        try {
          if (await refresh()) again = true;
        } catch (err) {
          if (!closed) opts.report(err instanceof Error ? err : new Error(String(err)));
        }
      } while (again && !closed);
    } finally {
      running = false;
    }
  };
  watch = await watchKeys(ctx, wanted(), {
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
    accept: (_key, data) => data,
    emptyDocument: {},
    deletions: 'change',
    onChange: () => reload(),
    onError: (error) => {
      if (!closed) opts.report(error);
    },
  });
  // The stack was read before the watch was armed: catch up with anything that changed meanwhile.
  await reload();
  const handle = watch;
  return {
    refresh: async () => {
      // Not awaited: the caller (useProfile) may hold the configuration's queue the reload waits for.
      if (await refresh()) void reload();
    },
    close: async () => {
      closed = true;
      await handle.close();
    },
  };
}

/** Profile names in a profile document's `$profile.extends` (valid names only: the reload reports bad ones). */
function parentsNamed(data: unknown): string[] {
  if (!isPlainObject(data) || !isPlainObject(data.$profile)) return [];
  const ext = data.$profile.extends;
  const names = typeof ext === 'string' ? [ext] : Array.isArray(ext) ? ext.filter((n): n is string => typeof n === 'string') : [];
  return names.filter((name) => {
    try {
      assertProfileName(name);
      return !name.includes('/');
    } catch {
      return false; // not a valid name: the reload reports it; there is no file to watch
    }
  });
}

/** Each layer key under every built-in extension (`current.yaml` → `current.yaml`, `current.yml`, `current.json`). */
function layerCandidates(keys: readonly string[]): string[] {
  const out = new Set<string>();
  for (const key of keys) {
    out.add(key);
    const dot = key.lastIndexOf('.');
    const slash = key.lastIndexOf('/');
    const stem = dot > slash + 1 ? key.slice(0, dot) : key;
    for (const ext of ['yaml', 'yml', 'json']) out.add(`${stem}.${ext}`);
  }
  return [...out];
}
