/**
 * docs/<feature>.md are the README's feature sections, one file each, for readers who want one
 * feature on its own page. The README is the only source: this script writes them (`node
 * scripts/docs.mjs`) or checks that they are up to date (`--check`, run by test/docs.test.ts), so
 * the two can never drift apart. Links are rewritten to work from docs/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** docs file → the README's `## ` heading it holds. */
export const SECTIONS = {
  'profiles.md': 'Profiles and the Configuration an application opens',
  'schema.md': 'Schema validation',
  'backups.md': 'Backups and snapshots',
  'history.md': 'Version history and the audit log',
  'bundles.md': 'Export and import bundles',
  'integrity.md': 'Integrity check and repair',
  'watch.md': 'Hot reload: `watch` and `Configuration.open({ watch: true })`',
  'cli.md': 'Command line',
};

const HEADER = '<!-- Generated from README.md by scripts/docs.mjs: edit the README, then run `node scripts/docs.mjs`. -->\n\n';

/** The section under `## title` (to the next `## ` heading, code blocks respected), or throws. */
export function sectionOf(readme, title) {
  const lines = readme.split('\n');
  let start = -1;
  let fence = false;
  const out = [];
  for (const line of lines) {
    if (/^```/.test(line)) fence = !fence;
    if (!fence && /^## /.test(line)) {
      if (start >= 0) break;
      if (line === `## ${title}`) start = out.length;
    }
    if (start >= 0) out.push(line);
  }
  if (start < 0) throw new Error(`README.md has no section "## ${title}"`);
  while (out.length > 0 && (out.at(-1).trim() === '' || /^<!--.*-->$/.test(out.at(-1).trim()))) out.pop();
  return `${out.join('\n')}\n`;
}

/** Links that resolve from the repository root, made to resolve from docs/. */
function relink(text) {
  return text
    .replace(/\]\(#([^)]+)\)/g, '](../README.md#$1)')
    .replace(/\]\((?!https?:|\.\.\/|#|mailto:)([^)]+)\)/g, '](../$1)');
}

/** Every docs file as it should be. */
export function expectedDocs(readme) {
  return Object.entries(SECTIONS).map(([file, title]) => ({ file, text: HEADER + relink(sectionOf(readme, title)) }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const check = process.argv.includes('--check');
  const stale = [];
  for (const { file, text } of expectedDocs(readme)) {
    const target = path.join(ROOT, 'docs', file);
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing: stale
    }
    if (current === text) continue;
    if (check) stale.push(file);
    else writeFileSync(target, text);
  }
  if (stale.length > 0) {
    process.stderr.write(`docs/ is out of date with README.md: ${stale.join(', ')}. Run \`node scripts/docs.mjs\`.\n`);
    process.exit(1);
  }
}
