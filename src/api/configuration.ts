/**
 * `Configuration`: what an application opens at startup. The effective configuration is the merge of,
 * lowest to highest:
 *
 *     schema defaults ← default.* ← the active profile's extends chain ← the active profile
 *                     ← current.* ← environment variables (<PREFIX>__API__PORT)
 *
 * `current.*` is the application's own layer: `set()`/`delete()` change it in memory and `save()`
 * writes it, holding only what differs from the layers below (never what came from the environment),
 * edited in place so a human's comments, blank lines, key order and indentation survive.
 *
 * Rules worth knowing (docs/profiles.md has the long form):
 * - `set(path, v)` with the value the layers below already give removes the override instead of
 *   pinning a copy; values a human wrote into `current.*` are only touched where `set`/`delete` go.
 * - `delete(path)` removes the value from `current.*`: the value from a lower layer shows through
 *   again. To blank out a lower layer's value, `set(path, null)` (null is a value).
 * - Objects merge with the layers below, so `set('server', { port: 1 })` keeps `server.host`.
 * - Paths that run through a list (`allowedOrigins.0`) override the whole list (lists replace).
 * - `save()` applies exactly the paths you changed onto the file as it is on disk (under its
 *   cross-process lock), so edits made meanwhile by a human or another process are kept.
 */
import { envPrefixOf } from '../core/settings.js';
import { ACTIVE_PROFILE_KEY, readActiveProfile, readActiveProfileSync, writeActiveProfile } from '../profiles/active.js';
import { ConfigPersistence } from './config-persistence.js';
import { STORE, type Store } from './store.js';
import type { Context } from '../core/context.js';
import {
  assertDepth,
  cloneDocument,
  deepEqual,
  deepFreeze,
  deletePath,
  diffDocuments,
  getPath,
  hasPath,
  isPlainObject,
  mergeDocuments,
  safeSet,
  setPath,
} from '../document/tree.js';
import { readDocument, writeDocument, type WriteMeta } from '../changeset/documents.js';
import { applyEnv, envDocument, readEnv, type AppliedEnv, type EnvEntry, type EnvTyping } from './env.js';
import { schemaDeclaresString } from '../schema/paths.js';
import { ClosedError, InvalidNameError, ValidationError } from '../errors.js';
import { fileLayer, mappingOf, mergeLayers, probeOrder, runAsync, runSync, validateLayers, type Found, type Layer, type Resolution } from './layers.js';
import { parseDotPath } from '../core/names.js';
import { assertProfile, profileLayer, resolveChain } from '../profiles/chain.js';
import { watchLayerFiles, type LayerWatch, type ReadDocument } from '../watch/layers.js';
import type {
  ActiveProfileSource,
  Change,
  ChangedBy,
  ConfigPath,
  ConfigurationChangeEvent,
  ConfigurationChangeSource,
  ConfigurationOptions,
  ConfigPersistenceOptions,
  DeepPartial,
  DeepReadonly,
  LayerInfo,
  PathValue,
  SaveResult,
  ValueExplanation,
  ValueSource,
} from '../types.js';

/** The environment variable that chooses the active profile. */
export const PROFILE_ENV = 'CONFIG_PROFILE';

/** Options of `Configuration#save`. */
export interface ConfigurationSaveOptions {
  changedBy?: ChangedBy;
  reason?: string;
}

/**
 * Rewrites `current.*` under its queue and cross-process lock: `build` gets the file as it is now
 * and returns the document to write (or `undefined` to write nothing).
 */
function writeCurrent(store: Store, build: (fresh: Found) => Record<string, unknown> | undefined, meta: WriteMeta): Promise<{ result: SaveResult; found: Found } | undefined> {
  return store.enqueue(undefined, 'exclusive', (key) => () =>
    store.withLock(key, async () => {
      const before = await readDocument(store.ctx, key);
      const data = build(before ? { key, doc: before } : { key });
      if (data === undefined) return undefined;
      const result = await writeDocument(store.ctx, key, data, meta);
      const after = await readDocument(store.ctx, key);
      return { result, found: after ? { key, doc: after } : { key } };
    }),
  );
}

/** Persists the active-profile choice, in call order and under its lock. */
function persistActiveProfile(store: Store, profile: string | undefined, changedBy: ChangedBy | undefined): Promise<void> {
  return store.queue.exclusive(ACTIVE_PROFILE_KEY, () => store.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(store.ctx, profile, changedBy)));
}

/** What one resolution of the files read. */
interface Stack {
  lower: Layer[];
  current: Found;
}

/** Everything the instance shows, swapped as a whole so readers never see half an update. */
interface State<T> {
  profile: string | undefined;
  source: ActiveProfileSource;
  lower: Layer[];
  current: { key: string; file: string; text?: string; exists: boolean };
  /** `current.*` as it will be saved: the file's data plus unsaved `set`/`delete`. */
  overlay: Record<string, unknown>;
  applied: AppliedEnv[];
  data: DeepReadonly<T>;
}

interface Touched {
  segments: string[];
  seq: number;
}

type Listener<E> = { fn: (event: E) => void };

/**
 * The effective configuration of an application: layers merged, validated, with typed access,
 * change events and persistence of runtime changes. Open it with {@link Configuration.open} or
 * {@link Configuration.openSync}.
 *
 * @typeParam T - the shape of your configuration.
 */
export class Configuration<T = Record<string, unknown>> {
  /** The store underneath (profiles, backups, history of the same directory). Closed by `close()`. */
  readonly store: ConfigPersistence<T>;
  private readonly engine: Store;
  private readonly ctx: Context;
  private readonly env: EnvEntry[];
  private state: State<T>;
  private readonly pending = new Map<string, Touched>();
  private seq = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly changeListeners = new Set<Listener<ConfigurationChangeEvent<T>>>();
  private readonly errorListeners = new Set<Listener<Error>>();
  /** Hot reload (`watch: true`). */
  private layerWatch: LayerWatch | undefined;

  private constructor(store: ConfigPersistence<T>, env: EnvEntry[], stack: Stack, profile: string | undefined, source: ActiveProfileSource) {
    this.store = store;
    this.engine = store[STORE];
    this.ctx = this.engine.ctx;
    this.env = env;
    this.state = this.build(stack, profile, source, mappingOf(this.ctx, stack.current));
  }

  /**
   * Opens the configuration in `options.baseDir` (default `config`): reads and merges every layer and
   * validates the result against the schema. Rejects with a coded error (`E_PARSE`, `E_VALIDATION`,
   * `E_NOT_FOUND` for a missing active profile or parent, ...) naming the file to fix.
   */
  static async open<T = Record<string, unknown>>(options: ConfigurationOptions = {}): Promise<Configuration<T>> {
    const store = new ConfigPersistence<T>(storeOptions(options));
    try {
      const ctx = store[STORE].ctx;
      const env = options.env ?? process.env;
      const envPrefix = envPrefixOf(ctx.settings, options.envPrefix);
      const entries = envPrefix === undefined ? [] : readEnv(env, envPrefix);
      await ctx.schema.ready();
      let choice = explicitProfile(ctx, options, env);
      if (!choice) {
        const persisted = await readActiveProfile(ctx);
        choice = persisted === undefined ? { profile: undefined, source: 'none' } : { profile: persisted, source: 'persisted' };
      }
      const stack = await runAsync(ctx, resolveStack(ctx, choice.profile, choice.source));
      const config = new Configuration<T>(store, entries, stack, choice.profile, choice.source);
      if (options.watch) await config.watchLayers();
      return config;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /**
   * {@link Configuration.open} for startup code that cannot await: reads every layer synchronously.
   * The instance is the same as from `open` (its `save()` and `useProfile()` are still async).
   */
  static openSync<T = Record<string, unknown>>(options: ConfigurationOptions = {}): Configuration<T> {
    const store = new ConfigPersistence<T>(storeOptions(options));
    try {
      const ctx = store[STORE].ctx;
      const env = options.env ?? process.env;
      const envPrefix = envPrefixOf(ctx.settings, options.envPrefix);
      const entries = envPrefix === undefined ? [] : readEnv(env, envPrefix);
      ctx.schema.readySync();
      let choice = explicitProfile(ctx, options, env);
      if (!choice) {
        const persisted = readActiveProfileSync(ctx);
        choice = persisted === undefined ? { profile: undefined, source: 'none' } : { profile: persisted, source: 'persisted' };
      }
      const extensions = probeOrder((options.codecs ?? []).flatMap((c) => c.extensions));
      const stack = runSync(ctx, resolveStack(ctx, choice.profile, choice.source), extensions);
      const config = new Configuration<T>(store, entries, stack, choice.profile, choice.source);
      // The watch arms in the background (this cannot await); a failure goes to the `error` listeners.
      if (options.watch) void config.watchLayers().catch((err: unknown) => !config.closed && config.report(err));
      return config;
    } catch (err) {
      // Nothing was queued or locked yet: closing only marks the store closed, and cannot fail.
      void store.close();
      throw err;
    }
  }

  /** The effective configuration: a deeply frozen snapshot (a new object after every change). */
  get data(): DeepReadonly<T> {
    return this.state.data;
  }

  /** The active profile, if any. */
  get activeProfile(): string | undefined {
    return this.state.profile;
  }

  /** Why that profile is active: the `profile` option, `CONFIG_PROFILE`, the persisted choice, `useProfile`, or none. */
  get activeProfileSource(): ActiveProfileSource {
    return this.state.source;
  }

  /** True while `set`/`delete` changes are not saved yet. */
  get dirty(): boolean {
    return this.pending.size > 0;
  }

  /** The files (and the environment) that make up the configuration, lowest first. */
  get sources(): LayerInfo[] {
    const st = this.state;
    const infos: LayerInfo[] = st.lower.map((layer) => {
      const info: LayerInfo = { layer: layer.kind, file: layer.file, exists: layer.exists };
      if (layer.key !== undefined) info.key = layer.key;
      if (layer.profile !== undefined) info.profile = layer.profile;
      return info;
    });
    infos.push({ layer: 'current', key: st.current.key, file: st.current.file, exists: st.current.exists });
    if (st.applied.length > 0) infos.push({ layer: 'env', file: 'environment', exists: true });
    return infos;
  }

  /** The value at a dot path (`server.port`, `allowedOrigins.0`), or `fallback` when there is none. */
  get<P extends ConfigPath<T>>(path: P): DeepReadonly<PathValue<T, P>> | undefined;
  get<P extends ConfigPath<T>, F>(path: P, fallback: F): DeepReadonly<PathValue<T, P>> | F;
  get(path: string, fallback?: unknown): unknown {
    const value = getPath(this.state.data, parseDotPath(path));
    return value === undefined ? fallback : value;
  }

  /** Whether the effective configuration has a value (even `null`) at the dot path. */
  has(path: ConfigPath<T>): boolean {
    return hasPath(this.state.data, parseDotPath(path));
  }

  /**
   * Sets a value in the `current.*` layer (in memory; `save()` writes it). The new effective
   * configuration is validated first: an invalid value throws `E_VALIDATION` and changes nothing.
   * An environment variable for the same path still wins in `data`, and is never saved. Objects
   * merge with the layers below, so a partial object is enough.
   */
  set<P extends ConfigPath<T>>(path: P, value: DeepPartial<PathValue<T, P>>): void;
  set(path: string, value: unknown): void {
    this.assertOpen();
    const segments = parseDotPath(path);
    if (segments.length === 0) throw new InvalidNameError('set() needs a path such as "server.port"; set the top-level keys one by one.');
    this.assertValue(value, path);
    const st = this.state;
    const base = mergeLayers(st.lower);
    const view = mergeDocuments(base, st.overlay);
    const unit = unitOf(view, segments);
    const target = unit.length === segments.length ? cloneDocument(value) : getPath(setPath(view, segments, value), unit);
    this.change(prune(setPath(st.overlay, unit, target), unit, base), unit, 'set');
  }

  /**
   * Removes the value at the dot path from the `current.*` layer (in memory; `save()` writes it), so
   * the value of the layers below shows through again; returns false when `current.*` had nothing
   * there. To hide a lower layer's value, `set(path, null)`. Inside a list, the element is removed.
   */
  delete(path: ConfigPath<T>): boolean {
    this.assertOpen();
    const segments = parseDotPath(path);
    if (segments.length === 0) throw new InvalidNameError('delete() needs a path such as "server.port".');
    const st = this.state;
    const base = mergeLayers(st.lower);
    const view = mergeDocuments(base, st.overlay);
    const unit = unitOf(view, segments);
    if (unit.length === segments.length) {
      if (!hasPath(st.overlay, segments)) return false;
      this.change(dropEmptyParents(deletePath(st.overlay, segments), segments), unit, 'delete');
      return true;
    }
    if (!hasPath(view, segments)) return false;
    this.change(prune(setPath(st.overlay, unit, getPath(deletePath(view, segments), unit)), unit, base), unit, 'delete');
    return true;
  }

  /**
   * Writes the `current.*` layer: the paths changed with `set`/`delete` are applied to the file as it
   * is on disk now (under its lock), keeping comments, blank lines, key order and indentation, and
   * the result is validated, backed up, versioned and audited like every save. Resolves with
   * `undefined` when there was nothing to save. A reload afterwards yields the same `data`.
   */
  async save(opts: ConfigurationSaveOptions = {}): Promise<SaveResult | undefined> {
    this.assertOpen();
    const meta: WriteMeta = { changedBy: opts.changedBy ?? 'user', operation: 'save', ...(opts.reason !== undefined ? { reason: opts.reason } : {}) };
    return this.serial(async () => {
      if (this.pending.size === 0) return undefined;
      const upto = this.seq;
      const touched = [...this.pending.values()];
      const mine = this.state.overlay;
      let written: Record<string, unknown> | undefined;
      const outcome = await writeCurrent(this.engine, (fresh) => {
        const next = rebase(mappingOf(this.ctx, fresh), touched, mine);
        // Validate what will be on disk with the layers below before writing anything, with the
        // environment and without it: a value only a variable makes valid is never persisted.
        this.build({ lower: this.state.lower, current: fresh }, this.state.profile, this.state.source, next);
        this.assertValidWithoutEnv(this.state.lower, next);
        written = next;
        return !fresh.doc && Object.keys(next).length === 0 ? undefined : next;
      }, meta);
      for (const [id, entry] of this.pending) if (entry.seq <= upto) this.pending.delete(id);
      const st = this.state;
      const found = outcome?.found ?? { key: st.current.key };
      const overlay = rebase(written ?? {}, [...this.pending.values()], st.overlay);
      this.swap(this.build({ lower: st.lower, current: found }, st.profile, st.source, overlay), 'save');
      return outcome?.result;
    });
  }

  /**
   * Switches to profile `name` (`null`: no profile) and persists the choice, so the next start
   * without a `profile` option or `CONFIG_PROFILE` uses it too. The profile must exist and the
   * resulting configuration must be valid; otherwise nothing changes.
   */
  async useProfile(name: string | null): Promise<void> {
    this.assertOpen();
    return this.serial(async () => {
      const profile = name === null ? undefined : assertProfile(name, (ext) => this.ctx.codecs.knows(ext));
      const stack = await runAsync(this.ctx, resolveStack(this.ctx, profile, 'useProfile'));
      const next = this.build(stack, profile, 'useProfile', rebase(mappingOf(this.ctx, stack.current), [...this.pending.values()], this.state.overlay));
      await persistActiveProfile(this.engine, profile, 'user');
      this.swap(next, 'profile');
      await this.layerWatch?.refresh(); // the new profile's chain has other files
    });
  }

  /**
   * Re-reads every layer (the `extends` chain is resolved again) and applies unsaved changes on top.
   * Emits `change` once when the effective configuration changed and resolves with the changes.
   * On an unreadable or invalid file it rejects and the last good configuration stays current.
   * Hot reload (`watch: true`) calls this after each settled change.
   */
  async reload(): Promise<Change[]> {
    this.assertOpen();
    return this.reloadWith(readDocument);
  }

  /** {@link reload} reading documents through `read` (hot reload passes the watch's settled content). */
  private reloadWith(read: ReadDocument): Promise<Change[]> {
    return this.serial(async () => {
      const st = this.state;
      const stack = await runAsync(this.ctx, resolveStack(this.ctx, st.profile, st.source), read);
      const latest = this.state;
      return this.swap(this.build(stack, latest.profile, latest.source, rebase(mappingOf(this.ctx, stack.current), [...this.pending.values()], latest.overlay)), 'reload');
    });
  }

  /**
   * Where the value at a dot path comes from: the deciding layer (file and line, profile, or
   * environment variable) and every other layer that holds a value there, highest first.
   */
  explain(path: string): ValueExplanation {
    const segments = parseDotPath(path);
    const st = this.state;
    const found = hasPath(st.data, segments);
    const value = getPath(st.data, segments);
    const candidates: Array<{ source: Omit<ValueSource, 'value'>; data: unknown; key?: string; text?: string }> = [];
    for (const a of [...st.applied].reverse()) candidates.push({ source: { layer: 'env', variable: a.variable }, data: setPath({}, a.path, a.value) });
    const unsaved = [...this.pending.values()].some((t) => startsWith(segments, t.segments) || startsWith(t.segments, segments));
    candidates.push({
      source: { layer: 'current', file: st.current.file, ...(unsaved ? { unsaved: true } : {}) },
      data: st.overlay,
      key: st.current.key,
      ...(st.current.text !== undefined && !unsaved ? { text: st.current.text } : {}),
    });
    for (const layer of [...st.lower].reverse()) {
      candidates.push({
        source: { layer: layer.kind === 'profile' ? 'profile' : 'default', file: layer.file, ...(layer.profile !== undefined ? { profile: layer.profile } : {}) },
        data: layer.data,
        ...(layer.key !== undefined ? { key: layer.key } : {}),
        ...(layer.text !== undefined ? { text: layer.text } : {}),
      });
    }
    const layers: ValueSource[] = [];
    let blocked = false;
    for (const c of candidates) {
      const relation = relationOf(c.data, segments);
      if (relation === 'blocks' && layers.length === 0) blocked = true;
      if (relation !== 'has') continue;
      const source: ValueSource = { ...c.source, value: cloneDocument(getPath(c.data, segments)) };
      const position = c.key !== undefined && c.text !== undefined ? this.ctx.codecs.locate(c.key, c.text, segments) : undefined;
      if (position) {
        source.line = position.line;
        source.column = position.column;
      }
      layers.push(source);
    }
    const result: ValueExplanation = { path, found, value: cloneDocument(value), layers };
    if (found && layers.length > 0 && !blocked) result.source = layers[0]!;
    else if (found) {
      const schemaFile = this.ctx.schema.schemaFile;
      result.source = { layer: 'schema', value: cloneDocument(value), ...(schemaFile !== undefined ? { file: schemaFile } : {}) };
    }
    return result;
  }

  /**
   * Subscribes to `change` (once per change of the effective configuration, with the changes by dot
   * path) or `error` (failures of background work such as hot reload, and exceptions thrown by
   * `change` listeners). Returns the unsubscribe function. An error with no `error` listener is
   * thrown asynchronously, like an unhandled EventEmitter `error`.
   */
  on(event: 'change', listener: (event: ConfigurationChangeEvent<T>) => void): () => void;
  on(event: 'error', listener: (error: Error) => void): () => void;
  on(event: 'change' | 'error', listener: ((event: ConfigurationChangeEvent<T>) => void) | ((error: Error) => void)): () => void {
    if (event !== 'change' && event !== 'error') {
      throw new InvalidNameError(`Unknown event ${JSON.stringify(String(event))}: Configuration emits "change" and "error".`);
    }
    const set = (event === 'change' ? this.changeListeners : this.errorListeners) as Set<Listener<unknown>>;
    const entry = { fn: listener as (e: unknown) => void };
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /** Stops hot reload, waits for queued saves and closes the store. Later calls fail with `E_IO`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    this.changeListeners.clear();
    this.errorListeners.clear();
    await this.store.close();
  }

  // ------------------------------------------------------------------------------------------
  // Hot reload (src/watch/layers.ts) — `watch: true` plugs in here
  // ------------------------------------------------------------------------------------------

  /**
   * Starts hot reload for `watch: true`. Contract for the watch work: watch the files in `sources`
   * (the chain may change: re-read `sources` after each reload), and on a settled change call
   * `this.reload().catch((err) => this.report(err))`: reload emits `change` once per effective
   * change, `report` hands failures to the `error` listeners. Register the stop function in
   * `this.ctx.closers` so `close()` releases every handle.
   */
  private async watchLayers(): Promise<void> {
    // One watch over every file of the stack (src/watch/layers.ts); it registers its stop in ctx.closers.
    // Reloads read the watch's settled content, so a half-written layer file is never merged.
    this.layerWatch = await watchLayerFiles(this.ctx, {
      keys: () => this.sources.flatMap((source) => (source.key === undefined ? [] : [source.key])),
      reload: async (read) => {
        if (!this.closed) await this.reloadWith(read);
      },
      report: (error) => {
        if (!this.closed) this.report(error);
      },
    });
  }

  // ------------------------------------------------------------------------------------------
  // Internals
  // ------------------------------------------------------------------------------------------

  /** Merges and validates a candidate state; throws (changing nothing) when it is invalid. */
  private build(stack: Stack, profile: string | undefined, source: ActiveProfileSource, overlay: Record<string, unknown>): State<T> {
    const current = { key: stack.current.key, file: this.ctx.storage.describe(stack.current.key), exists: Boolean(stack.current.doc) } as State<T>['current'];
    if (stack.current.doc) current.text = stack.current.doc.text;
    const currentLayer: Layer = { kind: 'current', key: current.key, file: current.file, data: overlay, exists: current.exists };
    if (current.text !== undefined) currentLayer.text = current.text;
    const { data: merged, applied } = applyEnv(mergeLayers(stack.lower, overlay), this.env, envTyping(this.ctx));
    const envLayer: Layer = {
      kind: 'env',
      file: 'environment',
      data: envDocument(applied),
      exists: applied.length > 0,
      variables: applied.map((a) => ({ variable: a.variable, path: a.path })),
    };
    const valid = validateLayers(this.ctx, merged, [...stack.lower, currentLayer, envLayer], { applyDefaults: true });
    return { profile, source, lower: stack.lower, current, overlay, applied, data: deepFreeze(valid) as DeepReadonly<T> };
  }

  /**
   * Throws `E_VALIDATION` naming the `current.*` file when the layers with `overlay` as that file
   * are invalid without the environment (SPEC: `save()`). Positions are left out: the text they
   * would point into is not written yet.
   */
  private assertValidWithoutEnv(lower: readonly Layer[], overlay: Record<string, unknown>): void {
    if (this.env.length === 0) return;
    const { key, file } = this.state.current;
    const currentLayer: Layer = { kind: 'current', key, file, data: overlay, exists: true };
    validateLayers(this.ctx, mergeLayers(lower, overlay), [...lower, currentLayer], { target: file, applyDefaults: true });
  }

  /** Applies an in-memory change of the `current.*` layer (validated first) and records the path. */
  private change(overlay: Record<string, unknown>, unit: string[], source: ConfigurationChangeSource): void {
    const st = this.state;
    const next = this.build({ lower: st.lower, current: currentFound(st) }, st.profile, st.source, overlay);
    this.pending.set(unit.join('\u0000'), { segments: unit, seq: ++this.seq });
    this.swap(next, source);
  }

  /** Installs a new state and emits `change` when the effective configuration differs. */
  private swap(next: State<T>, source: ConfigurationChangeSource): Change[] {
    const previous = this.state;
    this.state = next;
    const changes = diffDocuments(previous.data, next.data);
    if (changes.length === 0) return changes;
    const event: ConfigurationChangeEvent<T> = Object.freeze({ data: next.data, previous: previous.data, changes, source });
    for (const listener of [...this.changeListeners]) {
      try {
        listener.fn(event);
      } catch (err) {
        this.report(err);
      }
    }
    return changes;
  }

  /** Hands an error to the `error` listeners; with none, throws it asynchronously (never swallowed). */
  private report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.errorListeners.size === 0) {
      process.nextTick(() => {
        throw error;
      });
      return;
    }
    for (const listener of [...this.errorListeners]) {
      try {
        listener.fn(error);
      } catch (thrown) {
        process.nextTick(() => {
          throw thrown;
        });
      }
    }
  }

  /** Runs async work (save, useProfile, reload) one at a time, in call order. */
  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.tail.then(fn);
    this.tail = run.then(
      () => undefined,
      () => undefined, // the failure belongs to that call's own promise; the next one still runs
    );
    return run;
  }

  /** Refuses values a JSON/YAML file cannot hold, naming the path. */
  private assertValue(value: unknown, path: string): void {
    const problem = jsonProblem(value);
    if (problem) throw new ValidationError(this.state.current.file, [{ path: problem.path ? `${path}.${problem.path}` : path, message: problem.message }], 'what a JSON or YAML file can hold');
    assertDepth(value, this.state.current.file);
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError(`This Configuration for ${this.ctx.storage.location} was closed; open a new one.`);
  }
}

/** The store's options: everything but the Configuration-only ones (the caller's object is not modified). */
function storeOptions(options: ConfigurationOptions): ConfigPersistenceOptions {
  const { profile: _profile, envPrefix: _envPrefix, env: _env, watch: _watch, ...rest } = options;
  return rest;
}

/** The profile chosen by the option or `CONFIG_PROFILE`, if either says so. */
/** Environment values for fields the schema declares strings stay the exact text (src/api/env.ts). */
function envTyping(ctx: Context): EnvTyping {
  return { isString: (path) => schemaDeclaresString(ctx.schema.document, path) };
}

function explicitProfile(ctx: Context, options: ConfigurationOptions, env: Readonly<Record<string, string | undefined>>): { profile: string | undefined; source: ActiveProfileSource } | undefined {
  const knows = (ext: string): boolean => ctx.codecs.knows(ext);
  if (options.profile === null) return { profile: undefined, source: 'option' };
  if (options.profile !== undefined) return { profile: assertProfile(options.profile, knows), source: 'option' };
  const fromEnv = env[PROFILE_ENV];
  if (fromEnv === undefined || fromEnv === '') return undefined;
  try {
    return { profile: assertProfile(fromEnv, knows), source: 'env' };
  } catch (err) {
    throw new InvalidNameError(`${PROFILE_ENV}=${JSON.stringify(fromEnv)} is not a valid profile name: ${(err as Error).message}`);
  }
}

const CHOSEN_BY: Record<ActiveProfileSource, string | undefined> = {
  option: 'the `profile` option',
  env: `the ${PROFILE_ENV} environment variable`,
  persisted: `an earlier useProfile (saved in ${ACTIVE_PROFILE_KEY}; change it with \`config-persistence profile use <name>\`)`,
  useProfile: 'useProfile',
  none: undefined,
};

/** Reads the layer stack: `default.*`, the profile's chain, `current.*`. */
function* resolveStack(ctx: Context, profile: string | undefined, source: ActiveProfileSource): Resolution<Stack> {
  const base = fileLayer(ctx, 'default', yield { kind: 'file', base: 'default' });
  const chosenBy = CHOSEN_BY[source];
  const chain = profile === undefined ? [] : yield* resolveChain(ctx, profile, chosenBy === undefined ? {} : { chosenBy });
  const current = yield { kind: 'file', base: 'current' };
  mappingOf(ctx, current); // refuse a current.* that is not a mapping now, naming it
  return { lower: [base, ...chain.map(profileLayer)], current };
}

function currentFound(st: State<unknown>): Found {
  // Only key and text matter to build(): the data comes from the overlay.
  if (st.current.text === undefined) return { key: st.current.key };
  const text = st.current.text;
  return { key: st.current.key, doc: { key: st.current.key, bytes: Buffer.from(text), text, data: null, sha256: '' } };
}

/**
 * The part of the overlay a change at `segments` replaces: the path itself, or the outermost list on
 * the way (lists replace as a whole, so an element cannot be overridden alone).
 */
function unitOf(view: unknown, segments: string[]): string[] {
  for (let i = 1; i < segments.length; i++) {
    if (Array.isArray(getPath(view, segments.slice(0, i)))) return segments.slice(0, i);
  }
  return segments;
}

/** Drops the overlay's value at `unit` where it only repeats the layers below. */
function prune(overlay: Record<string, unknown>, unit: string[], base: Record<string, unknown>): Record<string, unknown> {
  if (!hasPath(base, unit)) return overlay;
  const pruned = pruneValue(getPath(overlay, unit), getPath(base, unit));
  if (pruned === undefined) return dropEmptyParents(deletePath(overlay, unit), unit);
  return setPath(overlay, unit, pruned);
}

function pruneValue(over: unknown, below: unknown): unknown {
  if (deepEqual(over, below)) return undefined;
  if (!isPlainObject(over) || !isPlainObject(below)) return over;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(over)) {
    const kept = Object.hasOwn(below, key) ? pruneValue(over[key], below[key]) : over[key];
    if (kept !== undefined) safeSet(out, key, kept);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Removes objects left empty along `segments` by a removal (never the root). */
function dropEmptyParents(doc: Record<string, unknown>, segments: string[]): Record<string, unknown> {
  let out = doc;
  for (let n = segments.length - 1; n >= 1; n--) {
    const parent = segments.slice(0, n);
    const node = getPath(out, parent);
    if (!isPlainObject(node) || Object.keys(node).length > 0) break;
    out = deletePath(out, parent);
  }
  return out;
}

/** Applies the touched paths of `mine` onto `fresh` (the file as it is now): set where `mine` has a value, removed where not. */
function rebase(fresh: Record<string, unknown>, touched: Iterable<Touched>, mine: Record<string, unknown>): Record<string, unknown> {
  let out = cloneDocument(fresh);
  for (const { segments } of touched) {
    if (hasPath(mine, segments)) out = setPath(out, segments, getPath(mine, segments));
    else if (hasPath(out, segments)) out = dropEmptyParents(deletePath(out, segments), segments);
  }
  return out;
}

/** How a layer relates to a path: holds a value there, replaces a parent with a non-object (`blocks`), or neither. */
function relationOf(data: unknown, segments: readonly string[]): 'has' | 'blocks' | 'none' {
  let node = data;
  for (let i = 0; i < segments.length; i++) {
    if (node === null || typeof node !== 'object') return i === 0 ? 'none' : 'blocks';
    if (!Object.hasOwn(node, segments[i]!)) return Array.isArray(node) && i > 0 ? 'blocks' : 'none';
    node = (node as Record<string, unknown>)[segments[i]!];
  }
  return 'has';
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

/** The first part of `value` a JSON/YAML document cannot hold, if any. */
function jsonProblem(value: unknown, path = ''): { path: string; message: string } | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path, message: `${value} cannot be stored in a config file; use a finite number` };
  if (value === undefined) return { path, message: 'undefined is not a value; use delete() to remove it, or null' };
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const problem = jsonProblem(item, path ? `${path}.${i}` : String(i));
      if (problem) return problem;
    }
    return undefined;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const problem = jsonProblem(value[key], path ? `${path}.${key}` : key);
      if (problem) return problem;
    }
    return undefined;
  }
  return { path, message: `a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value} cannot be stored in a config file; use plain objects, lists, strings, numbers, booleans or null` };
}
