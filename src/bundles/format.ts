/**
 * The bundle format: configs and profiles exported as one JSON document, to move them between
 * machines or keep them with a release. The envelope (`format`, `version`, `tool`, `exportedAt`,
 * `itemCount`, `items`, `checksum`) and every item (`kind`, `name`, `format`, `data`, `sha256`)
 * carry checksums over a canonical JSON serialisation (keys sorted, no whitespace), so a bundle
 * re-indented by an editor still verifies while any change to a value, a name or the envelope does
 * not. Reading checks the envelope and every checksum (`E_CHECKSUM`), then every item's kind, name
 * and format (`E_INVALID_NAME` for names that could leave the directory or are not plain names).
 */
import { packageVersion } from '../core/lazy-deps.js';
import path from 'node:path';
import { extensionOf, jsonCodec } from '../codecs/index.js';
import { CodecSyntaxError } from '../codecs/shared.js';
import { sha256, type Context } from '../core/context.js';
import { assertDepth, cloneDocument, isPlainObject } from '../document/tree.js';
import { ChecksumError, InvalidNameError, ParseError, ValidationError } from '../errors.js';
import { PROFILES_DIR } from '../core/keys.js';
import { assertFileName } from '../core/names.js';
import { assertProfile } from '../profiles/chain.js';
import { readUserFile } from '../storage/local/files.js';
import type { Bundle, BundleItem, EncryptedBundle } from '../types.js';
import { decryptBundle, isEncryptedBundle } from '../encryption/bundles.js';


/** `format` of a bundle. */
export const BUNDLE_FORMAT = 'config-persistence-bundle';
/** Layout version written by this release; newer bundles are refused with a clear message. */
export const BUNDLE_VERSION = 1;

/** A bundle read and checked by {@link readBundle}, with a name for messages. */
export interface CheckedBundle {
  bundle: Bundle;
  /** `path/to/bundle.json`, or `the bundle` for an object. */
  label: string;
  /** Set when the items were migrated from the bundle's schema version to the directory's. */
  migrated?: { from: number; to: number };
}

/**
 * Reads (from a path) or takes (a copy of) a bundle and checks it completely: envelope, every
 * checksum, every kind, name and format. Throws `E_PARSE`, `E_CHECKSUM`, `E_INVALID_NAME` or
 * `E_TOO_LARGE` before anything else happens.
 */
export async function readBundle(ctx: Context, source: Bundle | EncryptedBundle | string): Promise<CheckedBundle> {
  if (typeof source === 'string') {
    const file = path.resolve(source);
    const raw = parseBundleText(file, await readBundleFile(ctx, file));
    return { bundle: checkBundle(ctx, opened(ctx, raw, source), source), label: source };
  }
  const label = 'the bundle';
  assertDepth(source, label);
  return { bundle: checkBundle(ctx, opened(ctx, cloneDocument(source), label), label), label };
}

/** An encrypted bundle's content (decrypted with the store's key: E_CHECKSUM when it cannot be), else `raw`. */
function opened(ctx: Context, raw: unknown, label: string): unknown {
  if (!isEncryptedBundle(raw)) return raw;
  const inner = decryptBundle(ctx.encryption.currentKey, raw, label);
  assertDepth(inner, label);
  return inner;
}

function readBundleFile(ctx: Context, file: string): Promise<string> {
  // A bundle holds many files: allow it 16× the per-file limit.
  return readUserFile(file, { what: 'a bundle (16× maxFileBytes)', maxBytes: ctx.options.maxFileBytes * 16, missingHint: 'check the path of the bundle' });
}

function parseBundleText(file: string, text: string): unknown {
  let raw: unknown;
  try {
    raw = jsonCodec.parse(text);
  } catch (err) {
    if (err instanceof CodecSyntaxError) throw new ParseError(file, `the bundle is not valid JSON (${err.message})`, err.position, err);
    throw new ParseError(file, `the bundle is not valid JSON (${(err as Error).message})`, undefined, err);
  }
  assertDepth(raw, file);
  return raw;
}

function checkBundle(ctx: Context, raw: unknown, label: string): Bundle {
  const notBundle = (why: string): never => {
    throw new ParseError(label, `it is not a config-persistence bundle (${why}); export one with writeBundle or \`config-persistence export\``);
  };
  if (!isPlainObject(raw)) return notBundle('not a JSON object');
  if (raw.format !== BUNDLE_FORMAT) return notBundle(`format is ${JSON.stringify(raw.format)}, expected "${BUNDLE_FORMAT}"`);
  if (typeof raw.version !== 'number' || !Number.isInteger(raw.version)) return notBundle('version is missing');
  if (raw.version > BUNDLE_VERSION) {
    throw new ParseError(label, `the bundle has layout version ${raw.version}, made by a newer config-persistence; this one reads up to ${BUNDLE_VERSION}. Upgrade to import it`);
  }
  if (raw.schemaVersion !== undefined && !(Number.isSafeInteger(raw.schemaVersion) && (raw.schemaVersion as number) >= 0)) {
    return notBundle(`schemaVersion is ${JSON.stringify(raw.schemaVersion)}, expected a whole number >= 0`);
  }
  if (!Array.isArray(raw.items)) return notBundle('items is not a list');
  if (typeof raw.checksum !== 'string') return notBundle('checksum is missing');
  // 1. The whole envelope: any change to any field (a value, a name, the count, the date) shows here.
  const { checksum, ...body } = raw;
  if (sha256(canonicalJson(body)) !== checksum) {
    throw new ChecksumError(`${label}: the bundle's checksum does not match its content; it was changed or damaged after export. Nothing was imported; export it again.`, label);
  }
  if (raw.itemCount !== raw.items.length) {
    throw new ChecksumError(`${label}: the bundle says it holds ${String(raw.itemCount)} items but has ${raw.items.length}. Nothing was imported; export it again.`, label);
  }
  // 2. Every item's own checksum.
  raw.items.forEach((item: unknown, i: number) => {
    if (!isPlainObject(item) || !('data' in item) || typeof item.sha256 !== 'string') return notBundle(`item ${i + 1} is not a bundle item`);
    if (sha256(canonicalJson(item.data)) !== item.sha256) {
      throw new ChecksumError(`${label}: item ${i + 1} (${String(item.kind)} ${JSON.stringify(item.name)}) does not match its checksum; it was changed after export. Nothing was imported.`, label);
    }
    return undefined;
  });
  // 3. Kinds, names and formats: these become file names.
  const seen = new Set<string>();
  const items = (raw.items as Array<Record<string, unknown>>).map((item, i): BundleItem => {
    const where = `${label}: item ${i + 1}`;
    if (item.kind !== 'config' && item.kind !== 'profile') return notBundle(`item ${i + 1} has kind ${JSON.stringify(item.kind)}, expected "config" or "profile"`);
    const format = checkFormat(ctx, item.format, where);
    const name = checkItemName(ctx, item.kind, item.name, where);
    const id = `${item.kind}\u0000${name}`;
    if (seen.has(id)) throw new InvalidNameError(`${where}: ${item.kind} "${name}" appears twice in the bundle; nothing was imported.`);
    seen.add(id);
    if (item.kind === 'profile' && !isPlainObject(item.data)) {
      throw new ValidationError(`${label} (profile "${name}")`, [{ path: '', message: 'a profile must be a mapping of settings' }]);
    }
    return { kind: item.kind, name, format, data: item.data, sha256: item.sha256 as string, ...redactedOf(item.redacted, where, label) };
  });
  return { ...(raw as unknown as Bundle), items };
}

/** An item's `redacted` list (dot paths exported as "***"), checked; `{}` when there is none. */
function redactedOf(value: unknown, where: string, label: string): { redacted?: string[] } {
  if (value === undefined) return {};
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string')) {
    throw new ParseError(label, `${where} has "redacted" ${JSON.stringify(value)}, expected a list of dot paths; nothing was imported`);
  }
  return value.length > 0 ? { redacted: [...value] } : {};
}

function checkFormat(ctx: Context, format: unknown, where: string): string {
  if (typeof format !== 'string' || !/^[a-z0-9]{1,16}$/.test(format) || !ctx.codecs.knows(format)) {
    throw new InvalidNameError(`${where} has format ${JSON.stringify(format)}, which is not a known file format (json, yaml, yml, or a registered codec); nothing was imported.`);
  }
  return format;
}

export function checkItemName(ctx: Context, kind: 'config' | 'profile', name: unknown, where: string): string {
  try {
    if (kind === 'profile') return assertProfile(name, (ext) => ctx.codecs.knows(ext));
    const safe = assertFileName(name);
    if (ctx.codecs.knows(extensionOf(safe))) throw new InvalidNameError(`Config name "${safe}" must not include a file extension (the item's format is its extension).`);
    return safe;
  } catch (err) {
    if (err instanceof InvalidNameError) throw new InvalidNameError(`${where}: ${err.message} Nothing was imported.`);
    throw err;
  }
}


/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace, `undefined` members
 * left out as JSON.stringify does. Equal documents give equal text whatever their key order or
 * indentation, so checksums survive re-formatting.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const members = Object.keys(obj)
    .sort()
    .filter((k) => obj[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  return `{${members.join(',')}}`;
}

let cachedVersion: string | undefined;

/** This package's version (package.json beside dist/ and src/). */
export function toolVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = packageVersion();
    } catch {
      cachedVersion = '0.0.0'; // informational only: a bundle stays importable without it
    }
  }
  return cachedVersion;
}

export function dirOf(kind: 'config' | 'profile'): string {
  return kind === 'profile' ? PROFILES_DIR : '';
}

export function keyOf(kind: 'config' | 'profile', name: string, format: string): string {
  return kind === 'profile' ? `${PROFILES_DIR}/${name}.${format}` : `${name}.${format}`;
}

/** `profiles/dev.yaml` → `dev`, `current.yaml` → `current`. */
export function baseName(key: string): string {
  const name = key.startsWith(`${PROFILES_DIR}/`) ? key.slice(PROFILES_DIR.length + 1) : key;
  return stripExtension(name);
}

export function stripExtension(key: string): string {
  const ext = extensionOf(key.slice(key.lastIndexOf('/') + 1));
  return ext ? key.slice(0, -(ext.length + 1)) : key;
}
