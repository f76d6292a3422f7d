/**
 * Key rotation of `ConfigPersistence` over the `Store` (src/encryption/rotate.ts does the work):
 * after every queued call, under the snapshot lock and the lock of every config and profile, so no
 * save, backup or restore of this or another process runs while objects change key.
 */
import { Store } from './store.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import { rotate, type RotateOptions } from '../encryption/rotate.js';
import type { KeyInput } from '../encryption/cipher.js';
import type { Context } from '../core/context.js';
import type { EncryptionInfo, RotationResult } from '../types.js';

/** The body of `ConfigPersistence#encryptionInfo` (documented there): the settings file read again now. */
export async function encryptionInfo(ctx: Context): Promise<EncryptionInfo> {
  const { recorded } = await ctx.encryption.refresh();
  return { directoryKeyId: recorded?.keyId ?? null, encryptFiles: recorded?.files === true, keyId: ctx.encryption.currentKey?.id ?? null };
}

/** The body of `ConfigPersistence#rotateEncryptionKey` (documented there). */
export async function rotateKey(s: Store, newKey: KeyInput | null, opts: RotateOptions): Promise<RotationResult> {
  await s.settle();
  return s.withSnapshotLocks(
    () => configAndProfileKeys(s.ctx),
    async (locked) => {
      const result = await rotate(s.ctx, newKey, opts, locked);
      s.ctx.state.journals.clear(); // nothing in them changed, but cached reads of objects must not outlive the key
      return result;
    },
  );
}
