/**
 * `stats`: counts and sizes of everything in the managed directory.
 */
import type { Command } from 'commander';
import { formatSize, pairs, plural, relativeTime } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';

/** Registers `stats`. */
export function registerStats(program: Command, kit: Kit): void {
  examples(
    program.command('stats').description('counts and sizes: configs, profiles, backups (oldest, newest), history, audit log'),
    'config-persistence stats',
    'config-persistence --json stats',
  ).action(kit.act(stats));
}

async function stats(rt: Runtime): Promise<number> {
  const store = await rt.store();
  const s = await rt.busy('counting', store.stats());
  rt.print(s, () => {
    const age = (iso: string | undefined) => (iso ? `${relativeTime(iso)} (${iso})` : '—');
    return pairs(
      [
        ['directory', store.baseDir],
        ...(s.appliedRevision !== undefined ? [['revision applied', s.appliedRevision] as [string, string]] : []),
        ['config files', `${s.configs}  ${rt.p.dim(formatSize(s.bytes.configs))}`],
        ['profiles', `${s.profiles}  ${rt.p.dim(formatSize(s.bytes.profiles))}`],
        ['backups', `${s.backups.count} (${plural(s.backups.snapshots, 'snapshot')})  ${rt.p.dim(formatSize(s.bytes.backups))}`],
        ['oldest backup', age(s.backups.oldest)],
        ['newest backup', age(s.backups.newest)],
        ['history', `${plural(s.history.entries, 'version')} of ${plural(s.history.files, 'file')}  ${rt.p.dim(formatSize(s.bytes.history))}`],
        ['audit log', formatSize(s.bytes.audit)],
        ['total', formatSize(s.bytes.total)],
      ],
      rt.p,
    );
  });
  return 0;
}
