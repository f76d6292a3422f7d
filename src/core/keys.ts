/**
 * Turns the names callers use (`undefined`, `current`, `current.yaml`, `profiles/dev.yaml`) into
 * validated storage keys, choosing the extension of an existing file or the default format.
 */
import { extensionOf } from '../codecs/index.js';
import type { Context } from './context.js';
import { InvalidNameError } from '../errors.js';
import { assertFileName, assertProfileName } from './names.js';

/** The persisted current configuration's base name. */
export const CURRENT = 'current';
/** The shipped defaults' base name. */
export const DEFAULT = 'default';
/** Directory of profiles. */
export const PROFILES_DIR = 'profiles';

const KNOWN_ORDER = ['yaml', 'yml', 'json', 'jsonc', 'json5', 'toml'];

/** The default format's extension: the option, else the format of `default.*`, else json. */
export async function defaultExtension(ctx: Context): Promise<string> {
  if (ctx.options.defaultFormat) return ctx.options.defaultFormat;
  const existing = await findExisting(ctx, '', DEFAULT);
  return formatOfDefault(existing ? extensionOf(existing) : '');
}

/** The format new files take after `default.<ext>`: a built-in's own (yml → yaml), else json. */
export function formatOfDefault(ext: string): string {
  if (ext === 'yml') return 'yaml';
  return KNOWN_ORDER.includes(ext) ? ext : 'json';
}

/** The key of an existing `<base>.*` in `dir` ('' for the root), preferring yaml, yml, json, then others. */
export async function findExisting(ctx: Context, dir: string, base: string): Promise<string | undefined> {
  // One stat per known extension, not a listing: resolving each of 10,000 profiles by listing
  // their directory made validate, verify and status quadratic.
  const keys = ctx.codecs
    .extensions()
    .sort((a, b) => rank(a) - rank(b))
    .map((ext) => `${dir ? `${dir}/` : ''}${base}.${ext}`);
  const entries = await Promise.all(keys.map((key) => ctx.storage.stat(key)));
  return keys.find((_, i) => entries[i]?.kind === 'file');
}

function rank(ext: string): number {
  const i = KNOWN_ORDER.indexOf(ext);
  return i === -1 ? KNOWN_ORDER.length : i;
}

/**
 * Key of a config file. `undefined` means `current.*`; a name without an extension takes the
 * extension of an existing file or the default format; `profiles/<name>` addresses a profile file.
 */
export async function configKey(ctx: Context, file?: string): Promise<string> {
  if (file === undefined) return (await findExisting(ctx, '', CURRENT)) ?? `${CURRENT}.${await defaultExtension(ctx)}`;
  if (typeof file === 'string' && file.startsWith(`${PROFILES_DIR}/`)) {
    const name = file.slice(PROFILES_DIR.length + 1);
    const ext = extensionOf(name);
    if (ext && ctx.codecs.knows(ext)) {
      assertProfileName(name.slice(0, -(ext.length + 1)));
      return `${PROFILES_DIR}/${name}`;
    }
    return profileKey(ctx, name);
  }
  const name = assertFileName(file);
  if (extensionOf(name)) return name;
  return (await findExisting(ctx, '', name)) ?? `${name}.${await defaultExtension(ctx)}`;
}

/** Key of a profile's file: the existing `profiles/<name>.*`, else one in the default format. */
export async function profileKey(ctx: Context, name: string): Promise<string> {
  assertProfileName(name);
  if (name.includes('.') && ctx.codecs.knows(extensionOf(name))) {
    throw new InvalidNameError(`Profile name "${name}" must not include a file extension; use "${name.slice(0, name.lastIndexOf('.'))}".`);
  }
  return (await findExisting(ctx, PROFILES_DIR, name)) ?? `${PROFILES_DIR}/${name}.${await defaultExtension(ctx)}`;
}

/**
 * A key flattened into one safe name (`profiles/dev.yaml` → `profiles~dev.yaml`), for backup ids and
 * journals. Injective: a `~` or `%` of the name itself is escaped first (`%7E`, `%25`), so the
 * top-level file `profiles~dev.yaml` (→ `profiles%7Edev.yaml`) never shares the bookkeeping of the
 * profile `profiles/dev.yaml`.
 */
export function flattenKey(key: string): string {
  return key.replace(/[%~]/g, (c) => (c === '%' ? '%25' : '%7E')).replace(/\//g, '~');
}

/** Inverse of {@link flattenKey}. */
export function unflattenKey(flat: string): string {
  return flat.replace(/~/g, '/').replace(/%(25|7E)/g, (_, code: string) => (code === '25' ? '%' : '~'));
}

/**
 * How versions before the injective {@link flattenKey} flattened a key (`/` → `~` only), for the
 * journals they left: the same as today's unless the name holds a `~` or `%`.
 */
export function legacyFlattenKey(key: string): string {
  return key.replace(/\//g, '~');
}
