/**
 * The bundle export and import of `ConfigPersistence` over the `Store` (src/bundles/ does the
 * work): an export after every queued call; an import planned, then committed all-or-nothing under
 * the locks of every file it writes, after a `pre-import` snapshot.
 */
import { Store } from './store.js';
import type { Bundle, BundleSelection, BundleWriteResult, EncryptedBundle, ImportOptions, ImportReport } from '../types.js';
import * as bundleExport from '../bundles/export.js';
import { ConflictError } from '../errors.js';
import * as snapshots from '../backups/snapshots.js';
import * as bundleFormat from '../bundles/format.js';
import * as bundleImport from '../bundles/import.js';

/** The body of `ConfigPersistence#exportBundle` (documented there), after its open check. */
export async function exportBundle(s: Store, selection: BundleSelection): Promise<Bundle | EncryptedBundle> {
  await s.settle();
  const bundle = await bundleExport.exportBundle(s.ctx, selection);
  return selection.encrypt === true ? bundleExport.sealedBundle(s.ctx, bundle, selection)! : bundle;
}

/** The body of `ConfigPersistence#writeBundle` (documented there), after its open check. */
export async function writeBundle(s: Store, path: string, selection: BundleSelection): Promise<BundleWriteResult> {
  await s.settle();
  return bundleExport.writeBundle(s.ctx, path, selection);
}

/** The body of `ConfigPersistence#importBundle` (documented there), after its open check. */
export async function importBundle(s: Store, source: Bundle | EncryptedBundle | string, opts: ImportOptions): Promise<ImportReport> {
  const options = { ...opts };
  await s.ready(); // the directory at the version of the store's migrations, which the items are brought to
  // Items from a directory at an older schema version are migrated by the store's own steps first.
  const checked = await bundleImport.alignSchema(s.ctx, await bundleFormat.readBundle(s.ctx, source), s.migrations);
  if (options.dryRun) return (await bundleImport.planImport(s.ctx, checked, options)).report;
  await s.settle();
  return s.withSnapshotLocks(
    // The keys the plan writes and, when it overwrites, every config and profile (an overwrite
    // may break a child, which validation reads); re-planned until the set is stable, then once more inside.
    async () => {
      const writes = (await bundleImport.planImport(s.ctx, checked, options, false)).writes;
      const others = bundleImport.touchesOthers(writes) ? await snapshots.configAndProfileKeys(s.ctx) : [];
      return [...new Set([...others, ...writes.map((w) => w.key)])];
    },
    async (locked) => {
      const plan = await bundleImport.planImport(s.ctx, checked, options);
      const unlocked = plan.writes.filter((w) => !locked.includes(w.key));
      if (unlocked.length > 0) {
        throw new ConflictError(`${unlocked.map((w) => s.ctx.storage.describe(w.key)).join(', ')} appeared while the import was starting; nothing was imported. Run the import again.`);
      }
      const keys = plan.writes.map((w) => w.key);
      return bundleImport.commitImport(s.ctx, checked, plan, options, {
        // Of what the import writes, so restoring it undoes exactly the import (created files
        // are in its scope and are removed again), at a cost that does not grow with the directory.
        snapshot: () => snapshots.planSafetySnapshot(s.ctx, keys, keys, 'pre-import'),
      });
    },
  );
}
