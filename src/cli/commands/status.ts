/**
 * `status`: a read-only overview of the directory — the active profile, the effective configuration
 * and where each value came from, backups and their ages, and whether everything validates.
 * Exit 1 when something does not validate.
 */
import type { Command } from 'commander';
import type { Configuration } from '../../api/configuration.js';
import type { ActiveProfileSource, BackupInfo, LayerInfo, ProfileInfo } from '../../types.js';
import { describeSource, explainAll, type ValueRow } from '../effective.js';
import { formatValue, pairs, plural, table, type Palette } from '../output.js';
import { effectiveOptions, examples, type Kit, type Runtime } from '../runtime.js';
import { renderBackups } from './backup.js';
import { renderValidation, schemaFileOf, validateEverything } from './validate.js';

/** Backups shown by the human status (all of them are in `--json` and `backup list`). */
const SHOWN_BACKUPS = 5;

/** Registers `status`. */
export function registerStatus(program: Command, kit: Kit): void {
  examples(
    effectiveOptions(
      program
        .command('status')
        .description('show the active profile, the effective configuration with the source of each value, backups and validation (read-only; exit 1 when something is invalid)'),
    ),
    'config-persistence --dir config status',
    'config-persistence status --profile production',
    'config-persistence --json status',
  ).action(kit.act(status));
}

const PROFILE_SOURCES: Record<ActiveProfileSource, string> = {
  option: 'chosen with --profile',
  env: 'from CONFIG_PROFILE',
  persisted: 'chosen with `profile use`',
  useProfile: 'chosen with `profile use`',
  nodeEnv: 'from NODE_ENV',
  none: 'none active',
};

async function status(rt: Runtime): Promise<number> {
  const store = await rt.store();
  const schema = await schemaFileOf(rt);
  const validation = await validateEverything(rt);
  // Validation has tried to open it; here it is either open or its error is in the report.
  const config = await rt.configuration().catch(() => undefined);
  const [backups, profiles] = await Promise.all([store.listBackups(), store.listProfiles().catch(() => [] as ProfileInfo[])]);
  const hide = config ? await rt.secrets() : undefined;
  const values = config && hide ? explainAll(config, hide) : [];
  const data = {
    ok: validation.ok,
    baseDir: store.baseDir,
    ...(store.appliedRevision !== undefined ? { appliedRevision: store.appliedRevision } : {}),
    schema,
    profile: config ? { active: config.activeProfile ?? null, source: config.activeProfileSource } : null,
    profiles: profiles.map((p) => p.name),
    layers: config?.sources ?? null,
    effective: config && hide ? { data: hide.doc(config.data), values } : null,
    backups: { count: backups.length, list: backups },
    validation,
  };
  rt.print(data, () => render(rt.p, { store: store.baseDir, revision: store.appliedRevision, schema, config, profiles, values, backups, validationText: renderValidation(validation, rt.p, '  ') }, validation.ok, effectiveError(validation), rt.columns));
  return validation.ok ? 0 : 1;
}

/** The error that kept the effective configuration from opening, as shown in the report. */
function effectiveError(validation: Awaited<ReturnType<typeof validateEverything>>): string | undefined {
  const failed = validation.documents.find((d) => d.file.startsWith('effective configuration') && !d.ok);
  return failed ? `${failed.code ?? 'E_VALIDATION'}: ${failed.message ?? 'invalid'}` : undefined;
}

interface View {
  store: string;
  /** The revision this process has applied, on etcd. */
  revision: string | undefined;
  schema: string | null;
  config: Configuration | undefined;
  profiles: ProfileInfo[];
  values: ValueRow[];
  backups: BackupInfo[];
  validationText: string;
}

function render(p: Palette, v: View, ok: boolean, openError: string | undefined, columns: number | undefined): string {
  const out: string[] = [];
  const active = v.config?.activeProfile;
  out.push(
    pairs(
      [
        ['directory', v.store],
        ...(v.revision !== undefined ? [['revision applied', v.revision] as [string, string]] : []),
        ['schema', v.schema ?? 'none (syntax is checked, values are not)'],
        ['active profile', v.config ? (active ? `${p.bold(active)}  ${p.dim(`(${PROFILE_SOURCES[v.config.activeProfileSource]})`)}` : p.dim(`none  (choose one with \`config-persistence profile use <name>\`)`)) : p.red('unknown (the configuration does not open)')],
        ['profiles', v.profiles.length ? v.profiles.map((x) => (x.name === active ? p.bold(x.name) : x.name)).join(', ') : p.dim('none')],
        ['layers', v.config ? renderLayers(v.config.sources, p) : p.dim('—')],
        ['status', ok ? p.green('valid') : p.red('problems found (see Validation)')],
      ],
      p,
      '',
      columns,
    ),
  );
  out.push('', p.bold('Effective configuration'));
  if (!v.config) out.push(`  ${p.red(openError ?? 'the configuration cannot be opened')}`);
  else if (v.values.length === 0) out.push(`  ${p.dim('empty')}`);
  else
    out.push(
      table(
        v.values,
        [
          { header: 'PATH', value: (r) => r.path },
          { header: 'VALUE', value: (r) => formatValue(r.value, 48) },
          { header: 'FROM', value: (r) => describeSource(r.source, p) },
        ],
        p,
        '  ',
      ),
    );
  out.push('', p.bold(`Backups (${v.backups.length})`));
  if (v.backups.length === 0) out.push(`  ${p.dim('none yet — one is taken before every overwrite and delete')}`);
  else {
    out.push(renderBackups(v.backups.slice(0, SHOWN_BACKUPS), p, '  '));
    if (v.backups.length > SHOWN_BACKUPS) out.push(`  ${p.dim(`… and ${plural(v.backups.length - SHOWN_BACKUPS, 'older backup')} (\`config-persistence backup list\`)`)}`);
  }
  out.push('', p.bold('Validation'), v.validationText);
  return out.join('\n');
}

/** `default.yaml ← profiles/production.yaml ← current.yaml (not saved yet)`. */
function renderLayers(layers: readonly LayerInfo[], p: Palette): string {
  // A no-break space keeps each arrow with the layer after it: a wrapped line starts with `←`.
  return layers.map((l) => (l.exists ? l.file : p.dim(`${l.file}\u00a0(none)`))).join(p.dim(' ←\u00a0'));
}
