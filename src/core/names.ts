import { InvalidNameError } from '../errors.js';

/** What a validated name is used for; it only changes the wording of errors. */
export type NameKind = 'file' | 'profile' | 'backup id' | 'bundle item';

/** Longest accepted name, in UTF-8 bytes: leaves room under NAME_MAX (255) for backup suffixes. */
export const MAX_NAME_BYTES = 120;

/** Keys that can reach an object's prototype when used with bracket assignment. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The directory settings file (read by src/core/settings.ts); here so light modules can name it. */
export const SETTINGS_FILE = 'config-persistence.json';

/** Top-level entries of the base directory that belong to the library, never to a config file. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'backups',
  'history',
  'quarantine',
  'profiles',
  'audit.log',
  SETTINGS_FILE, // options, not a configuration document
]);

// Control characters (including NUL) make names that terminals, shells and some file systems mangle.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** What a valid name of each kind looks like, for the message. */
const NAME_ADVICE: Readonly<Record<NameKind, string>> = {
  file: 'Use a plain file name such as "current.yaml".',
  profile: 'Use a plain profile name such as "production" or "eu-west".',
  'backup id': 'Use an id exactly as `backup list` (listBackups) shows it.',
  'bundle item': 'Use a plain name such as "production" or "current.yaml".',
};

/**
 * Checks a single name that becomes one path segment (a config file, profile, backup id).
 * Rejects separators, `.`/`..`, a leading dot (temp and lock files start with one), control
 * characters including NUL, and over-long names — so no name can ever reach outside the base directory.
 */
export function assertSafeName(name: unknown, kind: NameKind = 'file', maxBytes = MAX_NAME_BYTES): string {
  const fail = (why: string): never => {
    throw new InvalidNameError(`Invalid ${kind} name ${JSON.stringify(String(name))}: ${why}. ${NAME_ADVICE[kind]}`);
  };
  if (typeof name !== 'string') return fail('it must be a string');
  if (name.length === 0) return fail('it is empty');
  if (CONTROL.test(name)) return fail('it contains a control character or NUL');
  if (name.includes('/') || name.includes('\\')) return fail('path separators are not allowed');
  if (name === '.' || name === '..' || name.includes('..')) return fail('".." is not allowed');
  if (name.startsWith('.')) return fail('names may not start with a dot');
  // `x.` would become the file `x..json`, which no later call accepts as a name.
  if (name.endsWith('.')) return fail('names may not end with a dot');
  if (name !== name.trim()) return fail('leading or trailing spaces are not allowed');
  if (/^[a-zA-Z]:/.test(name)) return fail('drive prefixes are not allowed');
  if (Buffer.byteLength(name, 'utf8') > maxBytes) return fail(`it is longer than ${maxBytes} bytes`);
  return name;
}

/** Checks a config file name: a safe name that does not collide with the library's own entries. */
export function assertFileName(name: unknown): string {
  const safe = assertSafeName(name, 'file');
  if (RESERVED_NAMES.has(safe.toLowerCase())) {
    throw new InvalidNameError(
      `"${safe}" is reserved for the library's own bookkeeping; choose another file name.`,
    );
  }
  return safe;
}

/**
 * Checks a profile name: a safe name that is not a prototype key either (profile names become object
 * keys in bundles, listings and the CLI's JSON output).
 */
export function assertProfileName(name: unknown): string {
  const safe = assertSafeName(name, 'profile');
  if (FORBIDDEN_KEYS.has(safe)) {
    throw new InvalidNameError(`Invalid profile name "${safe}": it is reserved in JavaScript objects. Use a plain name such as "production".`);
  }
  return safe;
}

/**
 * Splits a dot path (`api.port`, `servers.0.host`) into segments.
 * Empty segments and prototype keys are refused so that no path can pollute a prototype.
 */
export function parseDotPath(path: unknown): string[] {
  if (typeof path !== 'string') {
    throw new InvalidNameError(`Invalid path ${JSON.stringify(String(path))}: it must be a string like "api.port".`);
  }
  if (path === '') return [];
  const segments = path.split('.');
  for (const segment of segments) {
    if (segment === '') {
      throw new InvalidNameError(`Invalid path "${path}": empty segment. Write it like "api.port".`);
    }
    if (FORBIDDEN_KEYS.has(segment)) {
      throw new InvalidNameError(`Invalid path "${path}": "${segment}" is not allowed as a key in a path.`);
    }
    if (CONTROL.test(segment)) {
      throw new InvalidNameError(`Invalid path ${JSON.stringify(path)}: it contains a control character.`);
    }
  }
  return segments;
}
