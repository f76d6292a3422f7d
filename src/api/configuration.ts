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
import { readActiveProfile, readActiveProfileSync } from '../profiles/active.js';
import { ConfigPersistence } from './config-persistence.js';
import { STORE, type Store } from './store.js';
import type { Context } from '../core/context.js';
import { assertDepth, deepEqual, diffDocuments, getPath, hasPath } from '../document/tree.js';
import { readDocument, type WriteMeta } from '../changeset/documents.js';
import type { EnvEntry } from './env.js';
import { ClosedError, InvalidNameError, ValidationError } from '../errors.js';
import { mappingOf, probeOrder, runAsync, runSync, type Layer } from './layers.js';
import { parseDotPath } from '../core/names.js';
import { assertProfile } from '../profiles/chain.js';
import { watchLayerFiles, type LayerWatch, type ReadDocument } from '../watch/layers.js';
import { explicitProfile, nodeEnvProfile, persistedChoice, resolveStack, storeOptions, type Stack } from './configuration-sources.js';
import { findExisting, PROFILES_DIR } from '../core/keys.js';
import { readSyncFrom } from '../storage/sync-read.js';
import { loadEnvMappingFile, opening } from './env-sources.js';
import { assertValidWithoutEnv, buildState, currentFound, explainValue, layerInfos, type State, type Touched } from './configuration-state.js';
import { reportError, type Listener } from './configuration-events.js';
import { jsonProblem, overlayWithDelete, overlayWithSet, persistActiveProfile, rebase, writeCurrent } from './configuration-edits.js';
import { declaresSecrets, redactExplanation } from '../schema/secrets.js';
import type {
  ActiveProfileSource,
  Change,
  ChangedBy,
  ConfigPath,
  ConfigurationChangeEvent,
  ConfigurationChangeSource,
  ConfigurationOptions,
  ConfigOf,
  SchemaOption,
  DeepPartial,
  DeepReadonly,
  LayerInfo,
  PathValue,
  SaveResult,
  ValueExplanation,
} from '../types.js';

export { PROFILE_ENV } from './configuration-sources.js';

/** Options of `Configuration#save`. */
export interface ConfigurationSaveOptions {
  changedBy?: ChangedBy;
  reason?: string;
}



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
  /** The environment layer's entries; they follow the profile when `.env.<profile>` is read. */
  private env: EnvEntry[];
  private readonly entriesFor: (profile: string | undefined) => EnvEntry[];
  private state: State<T>;
  private readonly pending = new Map<string, Touched>();
  private seq = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly changeListeners = new Set<Listener<ConfigurationChangeEvent<T>>>();
  private readonly errorListeners = new Set<Listener<Error>>();
  /** Hot reload (`watch: true`). */
  private layerWatch: LayerWatch | undefined;

  private constructor(store: ConfigPersistence<T>, entriesFor: (profile: string | undefined) => EnvEntry[], stack: Stack, profile: string | undefined, source: ActiveProfileSource) {
    this.store = store;
    this.engine = store[STORE];
    this.ctx = this.engine.ctx;
    this.entriesFor = entriesFor;
    this.env = entriesFor(profile);
    this.state = this.build(stack, profile, source, mappingOf(this.ctx, stack.current));
  }

  /**
   * Opens the configuration in `options.baseDir` (default `config`): reads and merges every layer and
   * validates the result against the schema. Rejects with a coded error (`E_PARSE`, `E_VALIDATION`,
   * `E_NOT_FOUND` for a missing active profile or parent, ...) naming the file to fix.
   */
  static async open<T = never, const S extends SchemaOption = SchemaOption>(options: ConfigurationOptions<S> = {}): Promise<Configuration<ConfigOf<T, S>>> {
    const store = new ConfigPersistence<ConfigOf<T, S>>(storeOptions(options));
    try {
      await store[STORE].ready();
      const { ctx, env, entriesFor } = opening(store, options);
      await Promise.all([ctx.schema.ready(), loadEnvMappingFile(ctx)]);
      const nodeEnv = nodeEnvProfile(ctx, env);
      const choice = explicitProfile(ctx, options, env) ?? persistedChoice(await readActiveProfile(ctx), nodeEnv !== undefined && (await findExisting(ctx, PROFILES_DIR, nodeEnv)) !== undefined ? nodeEnv : undefined);
      const stack = await runAsync(ctx, resolveStack(ctx, choice.profile, choice.source));
      const config = new Configuration<ConfigOf<T, S>>(store, entriesFor, stack, choice.profile, choice.source);
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
  static openSync<T = never, const S extends SchemaOption = SchemaOption>(options: ConfigurationOptions<S> = {}): Configuration<ConfigOf<T, S>> {
    const store = new ConfigPersistence<ConfigOf<T, S>>(storeOptions(options));
    try {
      const { ctx, env, entriesFor } = opening(store, options);
      store[STORE].assertMigrated();
      ctx.schema.readySync();
      const extensions = probeOrder((options.codecs ?? []).flatMap((c) => c.extensions));
      const nodeEnv = nodeEnvProfile(ctx, env);
      const nodeEnvExists = nodeEnv !== undefined && extensions.some((ext) => readSyncFrom(ctx.storage, `${PROFILES_DIR}/${nodeEnv}.${ext}`) !== undefined);
      const choice = explicitProfile(ctx, options, env) ?? persistedChoice(readActiveProfileSync(ctx), nodeEnvExists ? nodeEnv : undefined);
      const stack = runSync(ctx, resolveStack(ctx, choice.profile, choice.source), extensions);
      const config = new Configuration<ConfigOf<T, S>>(store, entriesFor, stack, choice.profile, choice.source);
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

  /** Why that profile is active: the `profile` option, `CONFIG_PROFILE`, the persisted choice, `useProfile`, `NODE_ENV`, or none. */
  get activeProfileSource(): ActiveProfileSource {
    return this.state.source;
  }

  /** True while `set`/`delete` changes are not saved yet. */
  get dirty(): boolean {
    return this.pending.size > 0;
  }

  /** The files (and the environment) that make up the configuration, lowest first. */
  get sources(): LayerInfo[] {
    return layerInfos(this.state);
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
    const edit = overlayWithSet(this.state.lower, this.state.overlay, segments, value);
    this.change(edit.overlay, edit.unit, 'set');
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
    const edit = overlayWithDelete(this.state.lower, this.state.overlay, segments);
    if (!edit) return false;
    this.change(edit.overlay, edit.unit, 'delete');
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
      const env = this.entriesFor(profile); // `.env.<profile>` follows the profile
      const next = buildState<T>(this.ctx, env, stack, profile, 'useProfile', rebase(mappingOf(this.ctx, stack.current), [...this.pending.values()], this.state.overlay));
      await persistActiveProfile(this.engine, profile, 'user');
      this.env = env;
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
  explain(path: string, opts: { includeSecrets?: boolean } = {}): ValueExplanation {
    // Values the schema marks secret (x-secret, writeOnly) are shown as "***" unless asked for.
    const explained = explainValue(this.ctx, this.state, this.pending.values(), path);
    const schema = this.ctx.schema.isReady ? this.ctx.schema.document : undefined;
    return opts.includeSecrets === true || !declaresSecrets(schema) ? explained : redactExplanation(explained, schema);
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

  /**
   * Calls `listener(newValue, oldValue)` when the value at `path` changes (as `conf`'s
   * `onDidChange`): once per change set — one `set`, `save`, `reload` or `useProfile` — however
   * many keys under `path` it touched, and not at all when the value reads the same after it.
   * Returns the unsubscribe function.
   */
  onDidChange<V = unknown>(path: string, listener: (newValue: V | undefined, oldValue: V | undefined) => void): () => void {
    if (typeof path !== 'string' || typeof listener !== 'function') {
      throw new InvalidNameError('onDidChange(path, listener) takes a dot path such as "server.port" and a function.');
    }
    return this.on('change', (event) => {
      const before = getPath(event.previous, path) as V | undefined;
      const after = getPath(event.data, path) as V | undefined;
      if (!deepEqual(before, after)) listener(after, before);
    });
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
    return buildState<T>(this.ctx, this.env, stack, profile, source, overlay);
  }

  /**
   * Throws `E_VALIDATION` naming the `current.*` file when the layers with `overlay` as that file
   * are invalid without the environment (SPEC: `save()`). Positions are left out: the text they
   * would point into is not written yet.
   */
  private assertValidWithoutEnv(lower: readonly Layer[], overlay: Record<string, unknown>): void {
    assertValidWithoutEnv(this.ctx, this.env, this.state.current, lower, overlay);
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
    reportError(this.errorListeners, err);
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
