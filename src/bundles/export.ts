/** Exporting bundles: the chosen configs and profiles as one checked document, or a durable file. */
import path from 'node:path';
import { extensionOf } from '../codecs/index.js';
import { sha256, type Context } from '../core/context.js';
import { readDocument } from '../changeset/documents.js';
import { redactorOf, secretPaths } from '../schema/secrets.js';
import { NotFoundError } from '../errors.js';
import { configKey, findExisting, PROFILES_DIR, profileKey } from '../core/keys.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import { writeUserFile } from '../storage/local/files.js';
import type { Bundle, BundleItem, BundleSelection, BundleWriteResult, EncryptedBundle } from '../types.js';
import { encryptBundle } from '../encryption/bundles.js';
import { recordedVersion } from '../migrations/migrate.js';
import { baseName, BUNDLE_FORMAT, BUNDLE_VERSION, canonicalJson, toolVersion } from './format.js';


/** Builds a bundle of the selected configs and profiles (all of them by default). */
export async function exportBundle(ctx: Context, selection: BundleSelection = {}): Promise<Bundle> {
  const keys = await selectKeys(ctx, selection);
  // Secrets leave as "***" unless asked for; the checksums are of what the bundle holds.
  const hide = await redactorOf(ctx, { includeSecrets: selection.includeSecrets === true });
  const items: BundleItem[] = [];
  for (const key of keys) {
    const doc = await readDocument(ctx, key);
    if (!doc) throw new NotFoundError(`${ctx.storage.describe(key)} disappeared while exporting; run the export again.`, ctx.storage.describe(key));
    const kind = key.startsWith(`${PROFILES_DIR}/`) ? 'profile' : 'config';
    const redacted = hide.active ? secretPaths(doc.data, ctx.schema.document) : [];
    const data = redacted.length > 0 ? hide.doc(doc.data) : doc.data;
    items.push({ kind, name: baseName(key), format: extensionOf(key), data, sha256: sha256(canonicalJson(data)), ...(redacted.length > 0 ? { redacted } : {}) });
  }
  const body = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    tool: { name: 'config-persistence', version: toolVersion() },
    exportedAt: new Date().toISOString(),
    // The layout the items are in: an import elsewhere migrates them (absent for version 0, as before).
    ...(recordedVersion(ctx.settings.values) > 0 ? { schemaVersion: recordedVersion(ctx.settings.values) } : {}),
    itemCount: items.length,
    items,
  } as const;
  return { ...body, checksum: sha256(canonicalJson(body)) };
}

/**
 * Exports to one JSON file at `target` (relative to the working directory; inside or outside the
 * base directory), written atomically and durably with mode 0600 (configs hold secrets).
 */
export async function writeBundle(ctx: Context, target: string, selection: BundleSelection = {}): Promise<BundleWriteResult> {
  const bundle = await exportBundle(ctx, selection);
  const file = path.resolve(target);
  const sealed = sealedBundle(ctx, bundle, selection);
  const data = Buffer.from(`${JSON.stringify(sealed ?? bundle, null, 2)}\n`);
  await writeUserFile(file, data, { what: 'the bundle', durable: ctx.options.durable, mode: 0o600 });
  return { path: file, itemCount: bundle.itemCount, checksum: bundle.checksum, size: data.byteLength, ...(sealed ? { keyId: sealed.keyId } : {}) };
}

/**
 * The bundle encrypted when `selection.encrypt` says so, or by default when the store has a key
 * (a bundle leaving the process: writeBundle, the CLI, the admin API); `undefined` for plain.
 */
export function sealedBundle(ctx: Context, bundle: Bundle, selection: BundleSelection): EncryptedBundle | undefined {
  const key = ctx.encryption.currentKey;
  if (!(selection.encrypt ?? key !== undefined)) return undefined;
  return encryptBundle(key, bundle);
}

/**
 * The keys a selection names. Omitting both lists means everything; giving one limits the export
 * to that kind. A file shadowed by another of the same name in a preferred format (`current.json`
 * beside `current.yaml`) is never exported: the library does not read it either.
 */
async function selectKeys(ctx: Context, selection: BundleSelection): Promise<string[]> {
  const everything = selection.configs === undefined && selection.profiles === undefined;
  const all = await configAndProfileKeys(ctx);
  const visible: string[] = [];
  for (const key of all) {
    const dir = key.startsWith(`${PROFILES_DIR}/`) ? PROFILES_DIR : '';
    if ((await findExisting(ctx, dir, baseName(key))) === key) visible.push(key);
  }
  const pick = async (wanted: BundleSelection['configs'], kind: 'config' | 'profile'): Promise<string[]> => {
    const ofKind = visible.filter((k) => k.startsWith(`${PROFILES_DIR}/`) === (kind === 'profile'));
    if (wanted === true || (wanted === undefined && everything)) return ofKind;
    if (!wanted) return [];
    const keys: string[] = [];
    for (const name of wanted) {
      const key = kind === 'profile' ? await profileKey(ctx, name) : await configKey(ctx, name);
      if (!visible.includes(key)) {
        const display = ctx.storage.describe(key);
        throw new NotFoundError(`Cannot export ${kind} "${name}": ${display} does not exist. Check the name (config-persistence status).`, display);
      }
      if (!keys.includes(key)) keys.push(key);
    }
    return keys;
  };
  return [...(await pick(selection.configs, 'config')), ...(await pick(selection.profiles, 'profile'))];
}
