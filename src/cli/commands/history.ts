/**
 * `history <file>`, `diff <file> <a> [b]`, `rollback <file> <version>`: the version journal of a file.
 */
import type { Command } from 'commander';
import { parseCount } from '../durations.js';
import { formatSize, relativeTime, table } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { applyLimit, hiddenLine, limitOption } from '../limit.js';
import { renderChanges } from './render.js';

/** Registers `history`, `diff` and `rollback`. */
export function registerHistory(program: Command, kit: Kit): void {
  examples(
    limitOption(
      program
        .command('history')
        .description('list the versions of a file, newest first: when, who, why, which operation')
        .argument('<file>', 'config file: current, default.yaml, profiles/production'),
    ),
    'config-persistence history current --limit 10',
    'config-persistence --json history profiles/production',
  ).action(kit.act(history));

  examples(
    program
      .command('diff')
      .description('show what changed in a file between two versions, by dot path')
      .argument('<file>', 'config file')
      .argument('<a>', 'older version number')
      .argument('[b]', 'newer version number (default: the newest)'),
    'config-persistence diff current 3 5',
  ).action(kit.act(diff));

  examples(
    program
      .command('rollback')
      .description('write an earlier version back as a new version (the current content is backed up first)')
      .argument('<file>', 'config file')
      .argument('<version>', 'the version to bring back')
      .option('--reason <text>', 'why, recorded in the history and the audit log'),
    'config-persistence rollback current 3 --reason "bad deploy"',
  ).action(kit.act(rollback));
}

async function history(rt: Runtime, file: string): Promise<number> {
  const store = await rt.store();
  const all = await store.history(file);
  const { shown: versions, hidden } = applyLimit(rt, all);
  rt.print({ file, total: all.length, versions }, () => {
    if (versions.length === 0) return rt.p.dim(`no recorded versions of ${file} yet`);
    const cut = rt.p.dim(hiddenLine(hidden, 'version'));
    return table(
      versions,
      [
        { header: 'VERSION', value: (v) => String(v.version), align: 'right' },
        { header: 'WHEN', value: (v) => relativeTime(v.createdAt) },
        { header: 'BY', value: (v) => String(v.changedBy) },
        { header: 'OPERATION', value: (v) => v.operation ?? '' },
        { header: 'SIZE', value: (v) => (v.operation === 'delete' ? '—' : formatSize(v.size)), align: 'right' },
        { header: 'REASON', value: (v) => v.reason ?? '' },
      ],
      rt.p,
    ) + cut;
  });
  return 0;
}

async function diff(rt: Runtime, file: string, a: string, b?: string): Promise<number> {
  const from = parseCount(a, 'version a', 1);
  const to = b === undefined ? undefined : parseCount(b, 'version b', 1);
  const store = await rt.store();
  const changes = await store.diff(file, from, to, rt.includeSecrets);
  rt.print({ file, from, to: to ?? null, changes }, () => renderChanges(changes, rt.p, `no differences between version ${from} and ${to ?? 'the newest'}`));
  return 0;
}

async function rollback(rt: Runtime, file: string, version: string): Promise<number> {
  const target = parseCount(version, 'version', 1);
  const store = await rt.store();
  const result = await store.rollback(file, target, rt.opts.reason !== undefined ? { reason: rt.opts.reason as string } : {});
  rt.print({ file, rolledBackTo: target, ...result, backup: result.backup?.id ?? null }, () => {
    const backup = result.backup ? `; the replaced content is in backup ${result.backup.id}` : '';
    return `${result.path} is back at the content of version ${target} (now version ${result.version}${backup})`;
  });
  return 0;
}
