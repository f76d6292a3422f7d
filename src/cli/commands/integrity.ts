/**
 * `verify` and `repair`: find and fix damage (unparsable or invalid files, checksum mismatches,
 * broken journals, stray temp files) without ever deleting user data.
 */
import type { Command } from 'commander';
import type { Problem } from '../../types.js';
import { plural, table, type Palette } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';

/** Registers `verify` and `repair`. */
export function registerIntegrity(program: Command, kit: Kit): void {
  examples(
    program
      .command('verify')
      .description('check everything (configs, profiles, backups against their checksums, history, stray temp files); exit 1 on problems (read-only)'),
    'config-persistence verify',
    'config-persistence --json verify | jq ".problems[].kind"',
  ).action(kit.act(verify));

  examples(
    program
      .command('repair')
      .description('fix what verify finds: bad files move to quarantine/ (never deleted), journals and records are rewritten; exit 1 if problems remain (with --dry-run: if anything needs fixing)')
      .option('--dry-run', 'show what would be done; change nothing')
      .option('--recover', 'bring back an invalid current.* from its newest valid backup instead of only quarantining it'),
    'config-persistence repair --dry-run',
    'config-persistence repair --recover',
  ).action(kit.act(repair));
}

/** A table of problems: path, kind, message. */
export function renderProblems(problems: readonly Problem[], p: Palette, indent = ''): string {
  return table(
    problems,
    [
      { header: 'PATH', value: (x) => x.path },
      { header: 'KIND', value: (x) => p.red(x.kind) },
      { header: 'PROBLEM', value: (x) => x.message, multiline: true },
    ],
    p,
    indent,
  );
}

async function verify(rt: Runtime): Promise<number> {
  const store = await rt.store();
  const result = await rt.busy('verifying', store.verify());
  rt.print(result, () =>
    result.ok ? rt.p.green('ok: no problems found') : `${renderProblems(result.problems, rt.p)}\n${rt.p.red(`${plural(result.problems.length, 'problem')} found`)} ${rt.p.dim('(`config-persistence repair --dry-run` shows the fixes)')}`,
  );
  return result.ok ? 0 : 1;
}

async function repair(rt: Runtime): Promise<number> {
  const store = await rt.store();
  const report = await rt.busy('repairing', store.repair({ ...(rt.opts.dryRun ? { dryRun: true } : {}), ...(rt.opts.recover ? { recoverFromBackup: true } : {}) }));
  rt.print(report, () => {
    const lines: string[] = [];
    if (report.actions.length === 0) lines.push(rt.p.green('nothing to repair'));
    else {
      lines.push(
        table(
          report.actions,
          [
            { header: 'PATH', value: (a) => a.path },
            { header: 'KIND', value: (a) => a.kind },
            { header: report.dryRun ? 'WOULD' : 'DONE', value: (a) => `${a.action}${a.to ? ` → ${a.to}` : ''}` },
          ],
          rt.p,
        ),
      );
      lines.push(report.dryRun ? rt.p.dim(`dry run: ${plural(report.actions.length, 'action')}, nothing was changed`) : `${plural(report.actions.length, 'action')} done`);
    }
    if (report.remaining.length > 0) lines.push('', rt.p.bold('Remaining (needs a human)'), renderProblems(report.remaining, rt.p, '  '));
    return lines.join('\n');
  });
  // A dry run "finds" problems when anything needs doing; a real run fails when some remain.
  if (report.dryRun) return report.actions.length + report.remaining.length === 0 ? 0 : 1;
  return report.remaining.length === 0 ? 0 : 1;
}
