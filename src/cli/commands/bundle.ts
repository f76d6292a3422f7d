/**
 * `export <out>` and `import <in> --on-conflict skip|rename|overwrite [--dry-run]`: move configs and
 * profiles between directories as one checksummed bundle.
 */
import { Option, type Command } from 'commander';
import type { Bundle, BundleSelection, ImportedItem, ImportReport } from '../../types.js';
import { readInputDocument } from '../input.js';
import { formatSize, plural, table } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { loadSteps } from './migrate.js';

/** Registers `export` and `import`. */
export function registerBundle(program: Command, kit: Kit): void {
  examples(
    program
      .command('export')
      .description('write configs and profiles to one bundle file with checksums (- for stdout); everything unless narrowed')
      .argument('<out>', 'bundle file to write (JSON), or - for stdout')
      .option('--profiles <names>', 'only these profiles (comma-separated; "all" for every profile)')
      .option('--configs <names>', 'only these config files (comma-separated, e.g. current,default; "all" for every one)'),
    'config-persistence export shop-config.bundle.json',
    'config-persistence export - --profiles production,staging > profiles.bundle.json',
  ).action(kit.act(exportCommand));

  examples(
    program
      .command('import')
      .description('import a bundle all-or-nothing: checksums verified, every item validated, a snapshot taken first')
      .argument('<in>', 'bundle file, or - for stdin')
      .addOption(new Option('--on-conflict <mode>', 'when a config or profile of the same name exists').choices(['skip', 'rename', 'overwrite']).makeOptionMandatory())
      .option('--dry-run', 'show what would be created, renamed, overwritten and skipped; write nothing')
      .option('-y, --yes', 'do not ask before overwriting')
      .option('--reason <text>', 'why, recorded in the history and the audit log')
      .option('-m, --migrations <module>', "the application's migrations module: a bundle exported at an older schema version is migrated to the directory's"),
    'config-persistence import shop-config.bundle.json --on-conflict skip --dry-run',
    'config-persistence import shop-config.bundle.json --on-conflict overwrite --yes',
  ).action(kit.act(importCommand));
}

/** `a,b` → `['a','b']`; `all` → `true`. */
function listOption(value: unknown): readonly string[] | boolean | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  if (text === 'all') return true;
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function exportCommand(rt: Runtime, out: string): Promise<number> {
  const store = await rt.store();
  const profiles = listOption(rt.opts.profiles);
  const configs = listOption(rt.opts.configs);
  const selection: BundleSelection = { ...(profiles !== undefined ? { profiles } : {}), ...(configs !== undefined ? { configs } : {}), ...rt.includeSecrets };
  if (out === '-') {
    // The bundle itself is the output: JSON whatever --json says.
    // Encrypted whenever a key is set, like a file (writeBundle decides that itself).
    const bundle = await rt.busy('exporting', store.exportBundle({ ...selection, encrypt: store.encryptionKeyId !== undefined }));
    rt.raw(`${JSON.stringify(bundle, null, 2)}\n`);
    return 0;
  }
  const result = await rt.busy('exporting', store.writeBundle(out, selection));
  rt.print(result, () => `exported ${plural(result.itemCount, 'item')} to ${result.path}  ${rt.p.dim(`(${formatSize(result.size)}, checksum ${result.checksum.slice(0, 12)}…)`)}`);
  return 0;
}

async function importCommand(rt: Runtime, source: string): Promise<number> {
  const store = await rt.store(rt.opts.migrations !== undefined ? { migrations: await loadSteps(String(rt.opts.migrations)) } : {});
  const onConflict = rt.opts.onConflict as 'skip' | 'rename' | 'overwrite';
  const bundle: Bundle | string = source === '-' ? ((await readInputDocument('-', rt.io, 'json')) as Bundle) : source;
  const common = { onConflict, ...(rt.opts.reason !== undefined ? { reason: rt.opts.reason as string } : {}) };
  if (rt.opts.dryRun) {
    const plan = await rt.busy('checking', store.importBundle(bundle, { ...common, dryRun: true }));
    rt.print(plan, () => renderReport(rt, plan));
    return 0;
  }
  if (onConflict === 'overwrite' && !rt.opts.yes) {
    // Ask only when something would actually be replaced, and say what.
    const plan = await rt.busy('checking', store.importBundle(bundle, { ...common, dryRun: true }));
    if (plan.overwritten.length > 0) {
      await rt.confirm(`overwrite ${plan.overwritten.map((i) => i.file).join(', ')} with the bundle's content`, 'Each is backed up first, and a snapshot is taken');
    }
  }
  const report = await rt.busy('importing', store.importBundle(bundle, common));
  rt.print(report, () => renderReport(rt, report));
  return 0;
}

function renderReport(rt: Runtime, report: ImportReport): string {
  const rows: Array<ImportedItem & { outcome: string }> = [
    ...report.created.map((i) => ({ ...i, outcome: rt.p.green('create') })),
    ...report.renamed.map((i) => ({ ...i, outcome: rt.p.yellow(`rename from ${i.originalName ?? '?'}`) })),
    ...report.overwritten.map((i) => ({ ...i, outcome: rt.p.red('overwrite') })),
    ...report.skipped.map((i) => ({ ...i, outcome: rt.p.dim(`skip (${i.reason === 'identical' ? 'identical' : 'exists'})`) })),
  ];
  const lines: string[] = [];
  if (rows.length === 0) lines.push(rt.p.dim('the bundle is empty'));
  else
    lines.push(
      table(
        rows,
        [
          { header: 'KIND', value: (r) => r.kind },
          { header: 'FILE', value: (r) => r.file },
          { header: 'ACTION', value: (r) => r.outcome },
          { header: 'BACKUP', value: (r) => r.backup ?? '' },
        ],
        rt.p,
      ),
    );
  const summary = `${report.created.length} created, ${report.renamed.length} renamed, ${report.overwritten.length} overwritten, ${report.skipped.length} skipped`;
  lines.push(report.dryRun ? `dry run: would have ${summary}; nothing was written` : `${summary}${report.snapshot ? rt.p.dim(`; snapshot before import: ${report.snapshot}`) : ''}`);
  if (report.migrated) lines.push(rt.p.dim(`the bundle's items were migrated from schema version ${report.migrated.from} to ${report.migrated.to} first`));
  return lines.join('\n');
}
