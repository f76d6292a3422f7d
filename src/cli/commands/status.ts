/**
 * `status`: a read-only overview of the directory — the active profile, the effective configuration
 * and where each value came from, backups and their ages, and whether everything validates.
 */
import type { Command } from 'commander';
import { validateAll } from '../checks.js';
import { pairs } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { renderValidation, schemaFileOf } from './validate.js';

/** Registers `status`. */
export function registerStatus(program: Command, kit: Kit): void {
  examples(
    program
      .command('status', { isDefault: false })
      .description('show the active profile, the effective configuration with the source of each value, backups and validation (read-only)'),
    'config-persistence --dir config status',
    'config-persistence --json status',
  ).action(kit.act(status));
}

async function status(rt: Runtime): Promise<number> {
  const store = rt.store();
  const schema = schemaFileOf(rt);
  const validation = await validateAll(store, schema);
  const data = { baseDir: store.baseDir, schema, validation };
  rt.print(data, () =>
    [
      pairs([
        ['directory', store.baseDir],
        ['schema', schema ?? 'none (syntax checked only)'],
      ], rt.p),
      '',
      rt.p.bold('Validation'),
      renderValidation(validation, rt.p, '  '),
    ].join('\n'),
  );
  return 0;
}
