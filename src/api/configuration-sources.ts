/**
 * Where a `Configuration`'s layers come from: the store's options, the active profile chosen by the
 * option or the environment, how environment values are typed, and the layer stack read from the
 * files (`default.*`, the profile's chain, `current.*`).
 */
import os from 'node:os';
import { ACTIVE_PROFILE_KEY } from '../profiles/active.js';
import type { Context } from '../core/context.js';
import type { EnvTyping } from './env.js';
import { schemaDeclaresString } from '../schema/paths.js';
import { InvalidNameError } from '../errors.js';
import { fileLayer, mappingOf, type Found, type Layer, type Resolution } from './layers.js';
import { assertProfile, profileLayer, resolveChain } from '../profiles/chain.js';
import type { ActiveProfileSource, ConfigurationOptions, ConfigPersistenceOptions } from '../types.js';

/** The environment variable that chooses the active profile. */
export const PROFILE_ENV = 'CONFIG_PROFILE';

/** What one resolution of the files read. */
export interface Stack {
  lower: Layer[];
  current: Found;
}

/** The store's options: everything but the Configuration-only ones (the caller's object is not modified). */
export function storeOptions(options: ConfigurationOptions): ConfigPersistenceOptions {
  const { profile: _profile, envPrefix: _envPrefix, env: _env, watch: _watch, dotenv: _dotenv, ...rest } = options;
  return rest;
}

/** Environment values for fields the schema declares strings stay the exact text (src/api/env.ts). */
export function envTyping(ctx: Context): EnvTyping {
  return { isString: (path) => schemaDeclaresString(ctx.schema.document, path) };
}

/** The profile chosen by the option or `CONFIG_PROFILE`, if either says so. */
export function explicitProfile(ctx: Context, options: ConfigurationOptions, env: Readonly<Record<string, string | undefined>>): { profile: string | undefined; source: ActiveProfileSource } | undefined {
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

/**
 * `NODE_ENV` as a profile name, when it is one. `NODE_ENV=production` is set in many deployments
 * that have no such profile, so the caller uses it only when `profiles/<name>.*` exists.
 */
export function nodeEnvProfile(ctx: Context, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const value = env[NODE_ENV];
  if (value === undefined || value === '') return undefined;
  try {
    return assertProfile(value, (ext: string) => ctx.codecs.knows(ext));
  } catch {
    return undefined; // not a profile name, so it cannot name one: nothing to choose
  }
}

/** The environment variable node-config chooses its files by; a profile of that name is used when nothing else chose one. */
export const NODE_ENV = 'NODE_ENV';

const CHOSEN_BY: Record<ActiveProfileSource, string | undefined> = {
  option: 'the `profile` option',
  env: `the ${PROFILE_ENV} environment variable`,
  persisted: `an earlier useProfile (saved in ${ACTIVE_PROFILE_KEY}; change it with \`config-persistence profile use <name>\`)`,
  useProfile: 'useProfile',
  nodeEnv: `the ${NODE_ENV} environment variable (nothing else chose a profile)`,
  none: undefined,
};

/** Names a host file cannot take: they are the directory's own files. */
const RESERVED_BASES = new Set(['default', 'current', 'local', 'settings']);

/**
 * The host file's base name, as node-config uses it: the host name up to its first dot
 * (`web-1.example.com` → `web-1`), undefined when it is not a usable file name.
 */
export function hostBase(): string | undefined {
  const short = os.hostname().split('.')[0]?.toLowerCase() ?? '';
  return /^[a-z0-9][a-z0-9_-]*$/.test(short) && !RESERVED_BASES.has(short) ? short : undefined;
}

/**
 * Reads the layer stack: `default.*`, the profile's chain, `<hostname>.*` and `local.*` (machine-
 * specific overrides kept out of version control, as in node-config; only when they exist), `current.*`.
 */
export function* resolveStack(ctx: Context, profile: string | undefined, source: ActiveProfileSource): Resolution<Stack> {
  const base = fileLayer(ctx, 'default', yield { kind: 'file', base: 'default' });
  const chosenBy = CHOSEN_BY[source];
  const chain = profile === undefined ? [] : yield* resolveChain(ctx, profile, chosenBy === undefined ? {} : { chosenBy });
  const machine: Layer[] = [];
  const host = hostBase();
  for (const [kind, name] of [['host', host], ['local', 'local']] as const) {
    if (name === undefined) continue;
    const found: Found = yield { kind: 'file', base: name };
    if (found.doc) machine.push(fileLayer(ctx, kind, found));
  }
  const current = yield { kind: 'file', base: 'current' };
  mappingOf(ctx, current); // refuse a current.* that is not a mapping now, naming it
  return { lower: [base, ...chain.map(profileLayer), ...machine], current };
}

/**
 * The profile choice when neither an option nor `CONFIG_PROFILE` made one: the persisted choice,
 * else `NODE_ENV` (as node-config does) when a profile of that name exists, else none.
 */
export function persistedChoice(persisted: string | undefined, nodeEnv: string | undefined): { profile: string | undefined; source: ActiveProfileSource } {
  if (persisted !== undefined) return { profile: persisted, source: 'persisted' };
  return nodeEnv === undefined ? { profile: undefined, source: 'none' } : { profile: nodeEnv, source: 'nodeEnv' };
}
