/**
 * `backup list|create|restore|delete|prune`: timestamped copies and whole-directory snapshots.
 */
import type { Command } from 'commander';
import type { BackupInfo } from '../../types.js';
import { parseCount, parseDuration } from '../durations.js';
import { usageError } from '../errors.js';
import { formatSize, plural, relativeTime, table, type Palette } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { applyLimit, hiddenLine, limitOption } from '../limit.js';

/** Registers the `backup` command group. */
export function registerBackup(program: Command, kit: Kit): void {
  const backup = examples(
    program.command('backup').description('list, create, restore and prune backups and snapshots'),
    'config-persistence backup list',
    'config-persistence backup restore current.20261123T081218.123Z.yaml --yes',
  );

  examples(
    limitOption(
      backup
        .command('list')
        .description('list backups and snapshots, newest first, with their age, size and why they were taken')
        .argument('[file]', 'only the backups of this file (current, default.yaml, profiles/production); * for snapshots'),
    ),
    'config-persistence backup list --limit 5',
    'config-persistence --json backup list profiles/production',
  ).action(kit.act(list));

  examples(
    backup
      .command('create')
      .description('back up a file now (default current.*), or the whole directory with --snapshot; a label pins it against pruning')
      .argument('[file]', 'the file to back up (default current.*)')
      .option('--label <text>', 'a label (kept in the id); labelled backups are never pruned')
      .option('--snapshot', 'one snapshot of every config file and profile')
      .option('--scope <files>', 'with --snapshot: only these files, comma-separated'),
    'config-persistence backup create --label before-upgrade',
    'config-persistence backup create --snapshot --label nightly',
  ).action(kit.act(create));

  examples(
    backup
      .command('restore')
      .description('bring back a backup (a snapshot: the whole directory, all-or-nothing); the current content is backed up first')
      .argument('<id>', 'backup id, as shown by `backup list`')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--reason <text>', 'why, recorded in the history and the audit log'),
    'config-persistence backup restore current.20261123T081218.123Z.yaml --yes',
  ).action(kit.act(restore));

  examples(
    backup
      .command('delete')
      .description('delete one backup; asks for confirmation unless --yes')
      .argument('<id>', 'backup id')
      .option('-y, --yes', 'do not ask for confirmation'),
    'config-persistence backup delete current.20261123T081218.123Z.yaml --yes',
  ).action(kit.act(remove));

  examples(
    backup
      .command('prune')
      .description('apply retention now: keep the newest N per file and drop old ones (labelled backups are kept)')
      .option('--keep <n>', 'backups to keep per file (default: maxBackups of the settings file, else 10)')
      .option('--max-age <age>', 'drop backups older than this: 90s, 15m, 12h, 30d, 2w'),
    'config-persistence backup prune --keep 5',
    'config-persistence backup prune --max-age 30d',
  ).action(kit.act(prune));
}

/** A table of backups: id, file, why, age, size. */
export function renderBackups(backups: readonly BackupInfo[], p: Palette, indent = ''): string {
  return table(
    backups,
    [
      { header: 'ID', value: (b) => b.id },
      { header: 'FILE', value: (b) => (b.kind === 'snapshot' ? `snapshot (${plural(b.files?.length ?? 0, 'file')})` : b.file) },
      { header: 'TRIGGER', value: (b) => b.trigger },
      { header: 'AGE', value: (b) => relativeTime(b.createdAt) },
      { header: 'SIZE', value: (b) => formatSize(b.size), align: 'right' },
      { header: 'LABEL', value: (b) => b.label ?? '' },
    ],
    p,
    indent,
  );
}

async function list(rt: Runtime, file?: string): Promise<number> {
  const store = await rt.store();
  const { shown, hidden } = applyLimit(rt, await store.listBackups(file));
  rt.print(shown, () => (shown.length === 0 ? rt.p.dim('no backups yet (one is taken before every overwrite and delete)') : renderBackups(shown, rt.p) + rt.p.dim(hiddenLine(hidden, 'backup'))));
  return 0;
}

async function create(rt: Runtime, file?: string): Promise<number> {
  const store = await rt.store();
  const label = rt.opts.label as string | undefined;
  let info: BackupInfo;
  if (rt.opts.snapshot) {
    const scope = [...(rt.opts.scope === undefined ? [] : String(rt.opts.scope).split(',')), ...(file !== undefined ? [file] : [])].map((s) => s.trim()).filter(Boolean);
    info = await rt.busy('taking snapshot', store.createSnapshot({ ...(label !== undefined ? { label } : {}), ...(scope.length > 0 ? { scope } : {}) }));
  } else {
    if (rt.opts.scope !== undefined) throw usageError('--scope only applies to --snapshot');
    info = await store.createBackup(file, label !== undefined ? { label } : {});
  }
  rt.print(info, () => `created ${info.kind === 'snapshot' ? 'snapshot' : 'backup'} ${rt.p.bold(info.id)}  ${rt.p.dim(`(${formatSize(info.size)})`)}`);
  return 0;
}

async function restore(rt: Runtime, id: string): Promise<number> {
  const store = await rt.store();
  const info = (await store.listBackups()).find((b) => b.id === id);
  const what = info?.kind === 'snapshot' ? `the whole directory from snapshot ${id}` : info ? `${info.file} from backup ${id}` : `backup ${id}`;
  await rt.confirm(`restore ${what}`, 'The current content is backed up first');
  const result = await rt.busy('restoring', store.restoreBackup(id, rt.opts.reason !== undefined ? { reason: rt.opts.reason as string } : {}));
  rt.print(result, () => {
    const lines = [`restored ${result.restored.kind === 'snapshot' ? `${plural(result.files?.length ?? 0, 'file')} from snapshot` : result.restored.file + ' from'} ${result.restored.id}`];
    if (result.safetyBackup) lines.push(rt.p.dim(`the previous content is in backup ${result.safetyBackup.id}`));
    return lines.join('\n');
  });
  return 0;
}

async function remove(rt: Runtime, id: string): Promise<number> {
  const store = await rt.store();
  await rt.confirm(`delete backup ${id}`);
  const info = await store.deleteBackup(id);
  rt.print(info, () => `deleted backup ${info.id}`);
  return 0;
}

async function prune(rt: Runtime): Promise<number> {
  const keep = rt.opts.keep === undefined ? undefined : parseCount(String(rt.opts.keep), '--keep');
  const maxAgeMs = rt.opts.maxAge === undefined ? undefined : parseDuration(String(rt.opts.maxAge), '--max-age');
  const store = await rt.store();
  const result = await rt.busy('pruning', store.cleanupBackups({ ...(keep !== undefined ? { maxBackups: keep } : {}), ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) }));
  rt.print(result, () => (result.removed.length === 0 ? 'nothing to prune' : `removed ${plural(result.removed.length, 'backup')}:\n${renderBackups(result.removed, rt.p, '  ')}`));
  return 0;
}
