/**
 * The profile verbs of `ConfigPersistence` over the `Store` (src/profiles/profiles.ts does the file
 * work): saving and deleting profiles, copying and renaming them, and the persisted active profile.
 */
import { Store } from './store.js';
import { cloneDocument } from '../document/tree.js';
import { removeDocument } from '../changeset/documents.js';
import type { ChangedBy, CopyProfileOptions, DeepPartial, DeleteProfileOptions, SaveProfileOptions, SaveResult } from '../types.js';
import { ACTIVE_PROFILE_KEY, readActiveProfile, writeActiveProfile } from '../profiles/active.js';
import { ConflictError } from '../errors.js';
import { PROFILES_DIR, profileKey } from '../core/keys.js';
import {
  assertNoDependants,
  copyProfile as copyProfileDocument,
  copyTargetKey,
  deleteProfile as deleteProfileDocument,
  loadProfile as loadProfileDocument,
  saveProfile as saveProfileDocument,
} from '../profiles/profiles.js';
import { assertProfile } from '../profiles/chain.js';

/** The body of `ConfigPersistence#saveProfile` (documented there), after its open check. */
export async function saveProfile<T>(s: Store, name: string, data: DeepPartial<T>, opts: SaveProfileOptions): Promise<SaveResult> {
  const profile = assertProfile(name, (ext) => s.ctx.codecs.knows(ext));
  const snapshot = cloneDocument(data) as unknown;
  const options = { ...opts };
  return s.enqueue(`${PROFILES_DIR}/${profile}`, 'exclusive', (key) => () =>
    s.withLock(key, () => saveProfileDocument(s.ctx, key, profile, snapshot, options)),
  );
}

/** The body of `ConfigPersistence#deleteProfile` (documented there), after its open check. */
export async function deleteProfile(s: Store, name: string, opts: DeleteProfileOptions): Promise<void> {
  const profile = assertProfile(name, (ext) => s.ctx.codecs.knows(ext));
  const options = { ...opts };
  await s.enqueue(`${PROFILES_DIR}/${profile}`, 'exclusive', (key) => () =>
    s.withLock(key, async () => {
      const active = await readActiveProfile(s.ctx);
      await deleteProfileDocument(s.ctx, key, profile, options, active);
      if (active === profile) await s.queue.exclusive(ACTIVE_PROFILE_KEY, () => s.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(s.ctx, undefined, options.changedBy)));
    }),
  );
}

/** The body of `ConfigPersistence#setActiveProfile` (documented there), after its open check. */
export async function setActiveProfile(s: Store, name: string | null, opts: { changedBy?: ChangedBy }): Promise<void> {
  const profile = name === null ? undefined : assertProfile(name, (ext) => s.ctx.codecs.knows(ext));
  if (profile !== undefined) await loadProfileDocument(s.ctx, profile, true);
  await s.queue.exclusive(ACTIVE_PROFILE_KEY, () => s.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(s.ctx, profile, opts.changedBy)));
}

/** Copies or renames a profile, for `copyProfile` and `renameProfile`: both files locked, in a fixed order. */
export function copyOrRename(s: Store, from: string, to: string, opts: CopyProfileOptions, operation: 'copy' | 'rename'): Promise<SaveResult> {
  const knows = (ext: string): boolean => s.ctx.codecs.knows(ext);
  const source = assertProfile(from, knows);
  const target = assertProfile(to, knows);
  if (source === target) {
    return Promise.reject(new ConflictError(`Cannot ${operation} profile "${source}" onto itself; choose another name.`));
  }
  return s.enqueue(`${PROFILES_DIR}/${target}`, 'exclusive', () => async () => {
    const fromKey = await profileKey(s.ctx, source);
    const toKey = await copyTargetKey(s.ctx, target, fromKey);
    // Both files are locked, in a fixed order so two opposite renames cannot deadlock.
    const [first, second] = [fromKey, toKey].sort();
    const result = await s.withLock(first!, () =>
      s.withLock(second!, async () => {
        if (operation === 'rename') await assertNoDependants(s.ctx, source, s.ctx.storage.describe(fromKey));
        const saved = await copyProfileDocument(s.ctx, { name: source, key: fromKey }, { name: target, key: toKey }, opts, operation);
        if (operation === 'rename') {
          await removeDocument(s.ctx, fromKey, { changedBy: opts.changedBy ?? 'user', operation: 'rename', details: { to: toKey }, ...(opts.reason !== undefined ? { reason: opts.reason } : {}) });
          if ((await readActiveProfile(s.ctx)) === source) {
            await s.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(s.ctx, target, opts.changedBy));
          }
        }
        return saved;
      }),
    );
    return result;
  });
}
