/**
 * Where the environment layer's variables come from besides the prefix scheme (issue #25):
 *
 * - `dotenv: true` reads `.env` and then `.env.<profile>` (c12 / dotenv): their values sit below
 *   the real environment (a variable set in the process wins), and `explain()` names file and line.
 * - Named variables mapped onto paths: `"x-env": "DATABASE_URL"` in the schema, or a node-config
 *   style `custom-environment-variables.{yaml,yml,json}` in the directory. A mapped variable applies
 *   whether or not an `envPrefix` is set: declaring it is the opt-in.
 */
import path from 'node:path';
import { parseEnv } from 'node:util';
import type { Context } from '../core/context.js';
import { envPrefixOf } from '../core/settings.js';
import type { ConfigPersistence } from './config-persistence.js';
import { STORE } from './store.js';
import type { ConfigurationOptions } from '../types.js';
import { LocalStorage } from '../storage/local/local.js';
import { readSyncFrom } from '../storage/sync-read.js';
import { documentEnvMappings, schemaEnvMappings, type EnvMapping } from '../schema/env-names.js';
import { parseEnvValue, readEnv, type EnvEntry } from './env.js';

/** Where a variable read from a `.env` file was written. */
export interface EnvOrigin {
  file: string;
  line: number;
}

/** The environment with the `.env` files under it, and where each file-given variable was written. */
export interface LoadedEnv {
  env: Readonly<Record<string, string | undefined>>;
  origins: ReadonlyMap<string, EnvOrigin>;
}

/** The mapping file node-config users already have, read from the configuration directory. */
export const ENV_MAPPING_BASE = 'custom-environment-variables';

/**
 * `real` with the `.env` files of `dir` below it: `.env`, then `.env.<profile>` over it. A missing
 * file is no error (`.env.<profile>` usually exists for some profiles only).
 */
export function withDotenv(real: Readonly<Record<string, string | undefined>>, dir: string, profile: string | undefined): LoadedEnv {
  const values: Record<string, string> = {};
  const origins = new Map<string, EnvOrigin>();
  // Read through a storage on `dir` like every other file: a `.env` that is a link leading out of
  // it is refused, not followed.
  const files = new LocalStorage(dir, { durable: false });
  for (const name of profile === undefined ? ['.env'] : ['.env', `.env.${profile}`]) {
    const file = path.join(dir, name);
    const bytes = readSyncFrom(files, name);
    if (bytes === undefined) continue;
    const text = Buffer.from(bytes).toString('utf8');
    for (const [variable, value] of Object.entries(parseEnv(text))) {
      if (value === undefined) continue;
      values[variable] = value;
      origins.set(variable, { file, line: lineOf(text, variable) });
    }
  }
  for (const variable of Object.keys(real)) if (real[variable] !== undefined) origins.delete(variable);
  return { env: { ...values, ...real }, origins };
}

/** The line of the last assignment of `variable` (the one that wins, as in util.parseEnv). */
function lineOf(text: string, variable: string): number {
  const lines = text.split(/\r?\n/);
  const assigns = new RegExp(`^\\s*(?:export\\s+)?${variable.replace(/[^A-Za-z0-9_]/g, '\\$&')}\\s*=`);
  for (let i = lines.length - 1; i >= 0; i--) if (assigns.test(lines[i]!)) return i + 1;
  return 1;
}

/** The mapping file as `open` read it (asynchronously: a storage such as etcd has no sync reads). */
const mappingFiles = new WeakMap<Context, { key: string; bytes: Uint8Array } | null>();

/** Reads the mapping file ahead, for storages without synchronous reads (see {@link envMappings}). */
export async function loadEnvMappingFile(ctx: Context): Promise<void> {
  for (const ext of ['yaml', 'yml', 'json']) {
    const key = `${ENV_MAPPING_BASE}.${ext}`;
    const bytes = await ctx.storage.read(key);
    if (bytes === undefined) continue;
    mappingFiles.set(ctx, { key, bytes });
    return;
  }
  mappingFiles.set(ctx, null);
}

/** The mapping file: as read ahead by `open`, else read now (`openSync`). */
function mappingFile(ctx: Context): { key: string; bytes: Uint8Array } | undefined {
  const ahead = mappingFiles.get(ctx);
  if (ahead !== undefined) return ahead ?? undefined;
  for (const ext of ['yaml', 'yml', 'json']) {
    const key = `${ENV_MAPPING_BASE}.${ext}`;
    const bytes = readSyncFrom(ctx.storage, key);
    if (bytes !== undefined) return { key, bytes };
  }
  return undefined;
}

/** Every variable → path mapping: the schema's `x-env`, then the mapping file's (which wins on a clash). */
export function envMappings(ctx: Context): EnvMapping[] {
  const fromSchema = schemaEnvMappings(ctx.schema.document);
  const found = mappingFile(ctx);
  if (!found) return fromSchema;
  const file = path.join(ctx.options.baseDir, found.key);
  return [...fromSchema, ...documentEnvMappings(ctx.codecs.decode(file, found.bytes), file)];
}

/** Entries for the mapped variables that are set, with their `.env` origin when they came from one. */
export function mappedEntries(mappings: readonly EnvMapping[], loaded: LoadedEnv): EnvEntry[] {
  const entries: EnvEntry[] = [];
  for (const { variable, path: target } of mappings) {
    const raw = loaded.env[variable];
    if (raw === undefined) continue;
    const origin = loaded.origins.get(variable);
    entries.push({ variable, segments: target, path: target, raw, value: parseEnvValue(raw), ...(origin ? { origin } : {}) });
  }
  return entries;
}

/**
 * What `open` and `openSync` start from: the store's context, the environment the profile is
 * chosen by (with `.env` under it when `dotenv` is on), and the environment layer's entries once
 * the profile is known (`.env.<profile>` joins then; named variables after the prefixed ones, so
 * an explicit mapping wins).
 */
export function opening<T>(store: ConfigPersistence<T>, options: ConfigurationOptions): { ctx: Context; env: NonNullable<ConfigurationOptions['env']>; entriesFor: (profile: string | undefined) => EnvEntry[] } {
  const ctx = store[STORE].ctx;
  const real = options.env ?? process.env;
  const dir = options.dotenv ? path.resolve(typeof options.dotenv === 'string' ? options.dotenv : '.') : undefined;
  const load = (profile: string | undefined): LoadedEnv => (dir === undefined ? { env: real, origins: new Map() } : withDotenv(real, dir, profile));
  const envPrefix = envPrefixOf(ctx.settings, options.envPrefix);
  const entriesFor = (profile: string | undefined): EnvEntry[] => {
    const loaded = load(profile);
    const prefixed = envPrefix === undefined ? [] : readEnv(loaded.env, envPrefix);
    const withOrigin = prefixed.map((e) => (loaded.origins.has(e.variable) ? { ...e, origin: loaded.origins.get(e.variable)! } : e));
    return [...withOrigin, ...mappedEntries(envMappings(ctx), loaded)];
  };
  return { ctx, env: load(undefined).env, entriesFor };
}

