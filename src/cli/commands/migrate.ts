/**
 * `migrate --migrations <module> [--dry-run]`: brings every config and profile to the newest step
 * of the application's migration chain, or shows what that would change. The steps are the
 * application's code: a module whose default export (or `migrations` export) is the list given
 * to the library's `migrations` option, so the CLI and the application run the same steps.
 * Without `--migrations`, prints the version the directory is at.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { ConfigPersistenceError, NotFoundError } from '../../errors.js';
import { SETTINGS_FILE } from '../../core/settings.js';
import type { Migration, MigrationReport } from '../../types.js';
import { examples, type Kit, type Runtime } from '../runtime.js';

/** Registers `migrate`. */
export function registerMigrate(program: Command, kit: Kit): void {
  examples(
    program
      .command('migrate')
      .description('run the application\'s migrations over every config and profile in one all-or-nothing commit (or show the directory\'s version)')
      .option('-m, --migrations <module>', 'an ES module whose default export is the list of { version, up(doc) } steps')
      .option('-n, --dry-run', 'show the changes by file and dot path; write nothing')
      .option('-y, --yes', 'do not ask for confirmation'),
    'config-persistence migrate                                 # the version the directory is at',
    'config-persistence migrate --migrations ./migrations.mjs --dry-run',
    'config-persistence migrate --migrations ./migrations.mjs --yes',
  ).action(kit.act(migrate));
}

/** The steps exported by the module at `file` (`migrate --migrations`, `import --migrations`). */
export async function loadSteps(file: string): Promise<Migration[]> {
  const resolved = path.resolve(file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(resolved)) throw new NotFoundError(`The migrations module ${resolved} does not exist.`, resolved);
    throw new ConfigPersistenceError('E_VALIDATION', `The migrations module ${resolved} could not be loaded: ${(err as Error).message}`, { cause: err });
  }
  const steps = mod.default ?? mod.migrations;
  if (!Array.isArray(steps)) {
    throw new ConfigPersistenceError('E_VALIDATION', `${resolved} must export the list of steps as its default export (export default [{ version: 1, up(doc) { ... } }]) or as \`migrations\`.`);
  }
  return steps as Migration[];
}

async function migrate(rt: Runtime): Promise<number> {
  const store = await rt.store();
  if (rt.opts.migrations === undefined) {
    const version = await store.schemaVersion();
    rt.print({ version }, () => `${store.baseDir} is at schema version ${version} (${SETTINGS_FILE}: schemaVersion)`);
    return 0;
  }
  const steps = await loadSteps(String(rt.opts.migrations));
  const plan = await store.migrate(steps, { dryRun: true, ...rt.includeSecrets });
  const changed = plan.files.filter((f) => f.changed);
  if (rt.opts.dryRun === true || plan.steps.length === 0) {
    rt.print(plan, () => render(plan));
    return 0;
  }
  await rt.confirm(`migrate ${store.baseDir} from version ${plan.from} to ${plan.to} (${changed.length} file${changed.length === 1 ? '' : 's'} to change)`, 'Each file is backed up first');
  const done = await store.migrate(steps, { ...rt.includeSecrets });
  rt.print(done, () => render(done));
  return 0;
}

function render(report: MigrationReport): string {
  if (report.steps.length === 0) return `already at schema version ${report.from}; nothing to migrate`;
  const lines = [`${report.dryRun ? 'would migrate' : 'migrated'} from version ${report.from} to ${report.to} (steps ${report.steps.map((s) => s.version + (s.description ? ` ${s.description}` : '')).join(', ')})`];
  for (const f of report.files) {
    if (!f.changed) {
      lines.push(`  = ${f.file}  unchanged`);
      continue;
    }
    lines.push(`  ~ ${f.file}${f.version !== undefined ? `  version ${f.version}` : ''}${f.backup ? `  backup ${f.backup.id}` : ''}`);
    for (const c of f.changes) {
      const value = (v: unknown): string => JSON.stringify(v);
      if (c.type === 'added') lines.push(`      + ${c.path}: ${value(c.newValue)}`);
      else if (c.type === 'removed') lines.push(`      - ${c.path}: ${value(c.oldValue)}`);
      else lines.push(`      ~ ${c.path}: ${value(c.oldValue)} → ${value(c.newValue)}`);
    }
  }
  return lines.join('\n');
}
