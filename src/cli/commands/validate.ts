/**
 * `validate`: parse every document and check it against the schema. Exit 1 when any is invalid.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { EFFECTIVE, validateAll, type DocumentCheck, type ValidationReport } from '../checks.js';
import type { Palette } from '../output.js';
import { effectiveOptions, examples, type Kit, type Runtime } from '../runtime.js';

/** Registers `validate`. */
export function registerValidate(program: Command, kit: Kit): void {
  examples(
    effectiveOptions(
      program
        .command('validate')
        .description('check every config file, every profile and the effective configuration against the schema; exit 1 when one is invalid'),
    ),
    'config-persistence validate',
    'config-persistence --json validate | jq ".documents[] | select(.ok == false)"',
  ).action(kit.act(validate));
}

/** The schema file `validate` and `status` report: the store's (settings file or `--schema-dir`) when it exists. */
export async function schemaFileOf(rt: Runtime): Promise<string | null> {
  const file = (await rt.store()).schemaFile;
  return file !== undefined && existsSync(file) ? file : null;
}

/** Validates everything `rt` can see, the effective configuration included. */
export async function validateEverything(rt: Runtime): Promise<ValidationReport> {
  const progress = rt.progress('validating');
  try {
    const store = await rt.store();
    return await validateAll(store, await schemaFileOf(rt), {
      effective: async () => {
        const config = await rt.configuration();
        return `${EFFECTIVE} (${config.activeProfile ? `profile ${config.activeProfile}` : 'no profile'})`;
      },
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.done();
  }
}

async function validate(rt: Runtime): Promise<number> {
  const report = await validateEverything(rt);
  rt.print(report, () => renderValidation(report, rt.p));
  return report.ok ? 0 : 1;
}

/** Human text of a validation report: one line per document, issues with file:line:column. */
export function renderValidation(report: ValidationReport, p: Palette, indent = ''): string {
  const lines: string[] = [];
  if (report.documents.length === 0) lines.push(`${indent}${p.dim('no configuration files found')}`);
  for (const doc of report.documents) lines.push(...renderDocument(doc, p, indent));
  const bad = report.documents.filter((d) => !d.ok).length;
  const schema = report.schema ? `schema ${report.schema}` : 'no schema (syntax checked only)';
  lines.push(
    `${indent}${bad === 0 ? p.green('valid') : p.red(`${bad} invalid`)}: ${report.documents.length} document${report.documents.length === 1 ? '' : 's'}, ${schema}`,
  );
  return lines.join('\n');
}

function renderDocument(doc: DocumentCheck, p: Palette, indent: string): string[] {
  if (doc.ok) return [`${indent}${p.green('✓')} ${doc.file}`];
  const lines = [`${indent}${p.red('✗')} ${doc.file}  ${p.dim(doc.code ?? '')}`];
  if (doc.issues?.length) {
    for (const issue of doc.issues) {
      const file = doc.source ?? doc.file;
      const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
      lines.push(`${indent}    ${where}  ${issue.path || '(root)'} ${issue.message}`);
    }
  } else if (doc.message) {
    lines.push(`${indent}    ${doc.message}`);
  }
  return lines;
}
