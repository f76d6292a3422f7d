/**
 * Key rotation: every encrypted object re-encrypted with a new key in ONE commit, all-or-nothing.
 *
 * 1. Under the caller's locks (the snapshot lock and every file's), the settings file's record is
 *    read again, so the old key is the one the directory really uses.
 * 2. Every backup, snapshot and history content (and every live file, when live files are or
 *    become encrypted) is read and opened with the old key: one that cannot be opened stops the
 *    rotation with its `E_CHECKSUM` before anything is written (verify lists them; restore or
 *    quarantine them first).
 * 3. One commit: the re-encrypted bytes of each, the settings file with the new key id, an
 *    expectation on the revision of each key read in step 2 (a writer that slipped in is a
 *    conflict, nothing written) and an audit line. The backends apply a multi-key commit
 *    all-or-nothing (local: an intent journal rolled forward on the next open; memory and etcd:
 *    one transaction), so a crash at any instant leaves everything under the old key or
 *    everything under the new.
 */
import { auditAppend } from '../changeset/audit.js';
import type { Context } from '../core/context.js';
import { SETTINGS_FILE } from '../core/names.js';
import type { ChangedBy, RotationResult } from '../types.js';
import type { Expectation, PutOp } from '../storage/types.js';
import { isSealed, open, parseKey, seal, type KeyInput } from './cipher.js';
import { classOf, settingsPut } from './storage.js';
import { DecryptionError } from '../errors.js';

/** Options of {@link rotate}. */
export interface RotateOptions {
  encryptFiles?: boolean;
  changedBy?: ChangedBy;
  reason?: string;
}

/** See the module comment; `liveKeys` are the config and profile keys (all locked by the caller). */
export async function rotate(ctx: Context, newKey: KeyInput | null, opts: RotateOptions, liveKeys: readonly string[]): Promise<RotationResult> {
  const layer = ctx.encryption;
  const storage = layer.inner;
  const next = newKey === null ? undefined : parseKey(newKey, 'the new key');
  const record = await layer.refresh();
  const old = layer.currentKey;
  const previousKeyId = record.recorded?.keyId ?? null;
  if (previousKeyId !== null && old?.id !== previousKeyId) {
    const what = storage.describe(SETTINGS_FILE);
    throw new DecryptionError(old ? 'wrong-key' : 'no-key', what, `Cannot rotate the key of ${storage.location}: it is encrypted with key ${previousKeyId}, and this store ${old ? `has key ${old.id}` : 'has no key'}.`, 'Open the store with the current key to rotate it; nothing was written.');
  }
  // Live files: as asked, else as the directory records or this store's encryptFiles option says.
  const files = next !== undefined && (opts.encryptFiles ?? layer.files);
  const candidates = [...(await objectKeys(ctx)), ...liveKeys];
  const changes: PutOp[] = [];
  const expect: Expectation[] = [];
  for (const key of candidates) {
    const read = await storage.readEntry(key);
    if (!read) continue;
    const live = classOf(key, true) === 'live';
    const plain = isSealed(read.bytes) ? open(old, read.bytes, storage.describe(key)) : live || previousKeyId === null ? read.bytes : open(old, read.bytes, storage.describe(key));
    const encrypt = next !== undefined && (!live || files);
    if (!encrypt && !isSealed(read.bytes)) continue; // plain and staying plain
    changes.push({ type: 'put', key, data: encrypt ? seal(next, plain) : Buffer.from(plain) });
    expect.push({ key, revision: read.entry.revision });
  }
  const settings = await storage.readEntry(SETTINGS_FILE);
  expect.push({ key: SETTINGS_FILE, revision: settings?.entry.revision ?? null });
  changes.push(settingsPut(settings?.bytes, next ? { keyId: next.id, ...(files ? { files: true } : {}) } : undefined));
  const keyId = next?.id ?? null;
  await storage.commit({
    expect,
    changes,
    after: [
      auditAppend({
        at: new Date().toISOString(),
        op: 'rotate-key',
        file: '*',
        changedBy: String(opts.changedBy ?? 'user'),
        ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
        details: { from: previousKeyId, to: keyId, encryptFiles: files, rewritten: changes.length - 1 },
      }),
    ],
  });
  layer.useKey(next, files, await layer.refresh());
  return { keyId, previousKeyId, encryptFiles: files, rewritten: changes.slice(0, -1).map((c) => c.key) };
}

/** Every backup, snapshot and history content key. */
async function objectKeys(ctx: Context): Promise<string[]> {
  const storage = ctx.encryption.inner;
  const entries = [...(await storage.list('backups')), ...(await storage.list('history/objects'))];
  return entries.filter((e) => e.kind === 'file' && classOf(e.key, false) === 'sealed').map((e) => e.key);
}
