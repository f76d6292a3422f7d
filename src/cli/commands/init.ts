/**
 * `init`: sets up a managed directory for a new project — the directory settings file with the
 * defaults, a `default.yaml`, a schema stub, and `.gitignore` entries for what is runtime state
 * (current values, backups, history). Never overwrites: what exists is kept and reported.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { InvalidNameError } from '../../errors.js';
import type { Command } from 'commander';
import { SETTINGS_FILE } from '../../core/names.js';
import { DEFAULT_MAX_FILE_BYTES } from '../input.js';
import { addLines, createNew } from '../files.js';
import { pairs } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';

/** Registers `init`. */
export function registerInit(program: Command, kit: Kit): void {
  examples(
    program
      .command('init')
      .description(`set up the directory: ${SETTINGS_FILE} with the defaults, default.yaml, a schema stub, .gitignore entries; never overwrites`)
      .option('--format <format>', `the default file's format: ${Object.keys(DEFAULT_FILES).join(', ')}`, 'yaml'),
    'config-persistence init',
    'config-persistence init --format toml',
    'config-persistence --dir app/config --schema-dir app/schemas init',
  ).action(kit.act(init));
}

/** What `init` did to one file. */
interface Step {
  file: string;
  action: 'created' | 'kept' | 'updated';
  detail?: string;
}

/**
 * What a repository should not track, as `.gitignore` lines relative to the base directory: runtime
 * state (current values, backups, history) and `local.*`, this machine's own overrides.
 */
const IGNORED = ['/current.*', '/backups/', '/history/', '/quarantine/', '/.admin-token', '/local.*'];

async function init(rt: Runtime): Promise<number> {
  const format = String(rt.opts.format ?? 'yaml');
  const defaultText = DEFAULT_FILES[format];
  if (defaultText === undefined) throw new InvalidNameError(`--format ${JSON.stringify(format)} is not one init writes; use one of: ${Object.keys(DEFAULT_FILES).join(', ')}.`);
  const baseDir = path.resolve(rt.opts.dir);
  const schemaDir = path.resolve(rt.opts.schemaDir ?? 'schemas');
  const steps: Step[] = [];
  const create = async (file: string, text: string): Promise<void> => {
    steps.push({ file, action: (await createNew(file, text)) ? 'created' : 'kept' });
  };
  await create(path.join(baseDir, SETTINGS_FILE), settingsText(baseDir, schemaDir));
  const existing = await existingDefault(baseDir);
  if (existing) steps.push({ file: existing, action: 'kept' });
  else await create(path.join(baseDir, `default.${format}`), defaultText);
  await create(path.join(schemaDir, 'config.schema.json'), SCHEMA_STUB);
  const gitignore = path.join(baseDir, '.gitignore');
  const added = await addLines(gitignore, IGNORED);
  steps.push({ file: gitignore, action: added.length === 0 ? 'kept' : added.length === IGNORED.length ? 'created' : 'updated', ...(added.length ? { detail: added.join(' ') } : {}) });
  const shown = steps.map((s) => ({ ...s, file: path.relative(process.cwd(), s.file) || '.' }));
  rt.print({ baseDir, schemaDir, files: shown }, () =>
    [
      pairs(shown.map((s) => [s.action, `${s.file}${s.detail ? `  ${rt.p.dim(s.detail)}` : ''}`])),
      '',
      `Every process using ${path.relative(process.cwd(), baseDir) || '.'} reads ${SETTINGS_FILE}; options given in code override it for that process only.`,
      `Next: put shared values in default.yaml, describe them in ${path.relative(process.cwd(), path.join(schemaDir, 'config.schema.json'))}, then run \`config-persistence validate\`.`,
    ].join('\n'),
  );
  return 0;
}

/**
 * The settings file with every default written out, so a human sees what can be set. `schemaDir` is
 * relative to the base directory (where the file lives), so every process finds the same schemas
 * whatever its working directory.
 */
function settingsText(baseDir: string, schemaDir: string): string {
  const settings = {
    $comment: 'Shared by every process that uses this directory (the application, the CLI, the admin server). Options given in code override these for that process only.',
    maxBackups: 10,
    compressBackups: false,
    backupOnWrite: true,
    maxFileBytes: DEFAULT_MAX_FILE_BYTES,
    schemaDir: path.relative(baseDir, schemaDir).split(path.sep).join('/') || '.',
  };
  return `${JSON.stringify(settings, null, 2)}\n`;
}

const LAYERS_NOTE = [
  'Base settings shipped with the application: the lowest layer of the effective configuration.',
  'The active profile (profiles/<name>.*), <hostname>.* and local.* (this machine), then current.*',
  '(runtime changes) and environment variables override these values.',
];

/** The empty default file init writes, by format, each saying what it is in its own comment syntax. */
const DEFAULT_FILES: Record<string, string> = {
  yaml: `${LAYERS_NOTE.map((l) => `# ${l}`).join('\n')}\n{}\n`,
  toml: `${LAYERS_NOTE.map((l) => `# ${l}`).join('\n')}\n`,
  jsonc: `${LAYERS_NOTE.map((l) => `// ${l}`).join('\n')}\n{}\n`,
  json: '{}\n',
};

/** An existing `default.*` of any format: init must not add a second one beside it. */
async function existingDefault(baseDir: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(baseDir);
  } catch {
    return undefined; // no directory yet: nothing exists
  }
  const found = names.sort().find((n) => /^default\.[a-z0-9]+$/i.test(n));
  return found === undefined ? undefined : path.join(baseDir, found);
}

const SCHEMA_STUB = `${JSON.stringify(
  {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Configuration',
    description: 'Checked on every load and save. Describe each setting under "properties".',
    type: 'object',
    properties: {},
    additionalProperties: true,
  },
  null,
  2,
)}\n`;
