/**
 * `profile list|show|save|use|delete|diff`: named profiles and which one is active.
 */
import type { Command } from 'commander';
import { diffDocuments } from '../../document/tree.js';
import type { ProfileInfo } from '../../types.js';
import { usageError } from '../errors.js';
import { readInputDocument } from '../input.js';
import { readCurrentAsWritten } from '../inventory.js';
import { formatDocument, formatSize, relativeTime, table } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { renderChanges } from './render.js';

/** Registers the `profile` command group. */
export function registerProfile(program: Command, kit: Kit): void {
  const profile = examples(
    program.command('profile').description('list, show, save, switch, delete and compare named profiles'),
    'config-persistence profile list',
    'config-persistence profile use production',
  );

  examples(
    profile.command('list').description('list profiles with their parents and description; * marks the active one'),
    'config-persistence profile list',
  ).action(kit.act(list));

  examples(
    profile
      .command('show')
      .description("print a profile's values, merged over its extends chain (--own: only its own values)")
      .argument('<name>', 'profile name')
      .option('--own', 'only the values written in this profile, without its parents'),
    'config-persistence profile show production',
    'config-persistence --json profile show staging --own',
  ).action(kit.act(show));

  examples(
    profile
      .command('save')
      .description('create or replace a profile from a JSON/YAML file, stdin (-), or the current configuration (no source)')
      .argument('<name>', 'profile name')
      .argument('[source]', 'a JSON or YAML file with the values, or - for stdin; default: current.*')
      .option('--extends <parents>', 'parent profile(s), comma-separated; "" removes them')
      .option('--description <text>', 'a description shown in `profile list`')
      .option('--reason <text>', 'why, recorded in the history and the audit log'),
    'config-persistence profile save staging staging.yaml --extends production --description "Staging cluster"',
    'echo "logging: {level: debug}" | config-persistence profile save debug - --extends development',
  ).action(kit.act(save));

  examples(
    profile
      .command('use')
      .description('make a profile the active one for every later start (CONFIG_PROFILE still wins)')
      .argument('[name]', 'profile name')
      .option('--clear', 'choose no profile'),
    'config-persistence profile use production',
    'config-persistence profile use --clear',
  ).action(kit.act(use));

  examples(
    profile
      .command('delete')
      .description('delete a profile (a backup is taken first); asks for confirmation unless --yes')
      .argument('<name>', 'profile name')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--force', 'delete even if other profiles extend it or it is the active profile'),
    'config-persistence profile delete staging --yes',
  ).action(kit.act(remove));

  examples(
    profile
      .command('diff')
      .description('show what differs between two profiles (resolved over their extends chains), by dot path')
      .argument('<a>', 'first profile')
      .argument('<b>', 'second profile'),
    'config-persistence profile diff development production',
  ).action(kit.act(diff));
}

/** The active profile as a Configuration opened now would choose it, and why. */
export async function activeProfile(rt: Runtime): Promise<{ name: string | null; source: 'env' | 'persisted' | 'none' }> {
  const fromEnv = rt.io.env.CONFIG_PROFILE;
  if (fromEnv) return { name: fromEnv, source: 'env' };
  const store = await rt.store();
  const persisted = await store.getActiveProfile();
  return persisted ? { name: persisted, source: 'persisted' } : { name: null, source: 'none' };
}

async function list(rt: Runtime): Promise<number> {
  const store = await rt.store();
  const [profiles, active] = await Promise.all([store.listProfiles(), activeProfile(rt)]);
  rt.print({ active: active.name, activeSource: active.source, profiles }, () => {
    if (profiles.length === 0) return rt.p.dim(`no profiles in ${store.baseDir}/profiles (create one with \`config-persistence profile save <name>\`)`);
    const parents = (p: ProfileInfo) => (p.extends === undefined ? '' : ([] as string[]).concat(p.extends).join(', '));
    return table(
      profiles,
      [
        { header: '  NAME', value: (p) => (p.name === active.name ? `${rt.p.green('*')} ${rt.p.bold(p.name)}` : `  ${p.name}`) },
        { header: 'EXTENDS', value: parents },
        { header: 'FORMAT', value: (p) => p.format },
        { header: 'SIZE', value: (p) => formatSize(p.size), align: 'right' },
        { header: 'UPDATED', value: (p) => relativeTime(p.updatedAt) },
        { header: 'DESCRIPTION', value: (p) => (p.problem ? rt.p.red(`problem: ${p.problem.split('\n')[0]}`) : (p.description ?? '')) },
      ],
      rt.p,
    );
  });
  return 0;
}

async function show(rt: Runtime, name: string): Promise<number> {
  const store = await rt.store();
  const loaded = await store.loadProfile(name, { resolve: !rt.opts.own });
  const profile = { ...loaded, data: (await rt.secrets()).doc(loaded.data) };
  rt.print(profile, () => {
    const header: string[] = [];
    const parents = profile.meta.extends === undefined ? [] : ([] as string[]).concat(profile.meta.extends);
    if (profile.meta.description) header.push(`# ${profile.meta.description}`);
    if (parents.length) header.push(`# extends: ${parents.join(', ')}`);
    if (profile.chain && profile.chain.length > 1) header.push(`# merged: ${profile.chain.join(' ← ')}`);
    return [...header.map((l) => rt.p.dim(l)), formatDocument(profile.data)].join('\n');
  });
  return 0;
}

async function save(rt: Runtime, name: string, source?: string): Promise<number> {
  const store = await rt.store();
  const data = source === undefined ? await readCurrentAsWritten(store.baseDir, rt.keyOption()) : await readInputDocument(source, rt.io);
  const parents = rt.opts.extends as string | undefined;
  const result = await store.saveProfile(name, data as Record<string, unknown>, {
    ...(parents !== undefined ? { extends: parents.trim() === '' ? null : parents.split(',').map((p) => p.trim()).filter(Boolean) } : {}),
    ...(rt.opts.description !== undefined ? { description: rt.opts.description as string } : {}),
    ...(rt.opts.reason !== undefined ? { reason: rt.opts.reason as string } : {}),
  });
  rt.print({ profile: name, ...result, backup: result.backup?.id ?? null }, () => {
    const backup = result.backup ? `, backup ${result.backup.id}` : '';
    return `saved profile ${name}  ${rt.p.dim(`(${result.path} version ${result.version}${backup})`)}`;
  });
  return 0;
}

async function use(rt: Runtime, name?: string): Promise<number> {
  if (rt.opts.clear && name !== undefined) throw usageError('give a profile name or --clear, not both');
  if (!rt.opts.clear && name === undefined) throw usageError('missing profile name', 'run `config-persistence profile use <name>`, or `--clear` to choose none');
  const store = await rt.store();
  await store.setActiveProfile(rt.opts.clear ? null : name!);
  const overridden = rt.io.env.CONFIG_PROFILE;
  rt.print({ active: rt.opts.clear ? null : name }, () => (rt.opts.clear ? 'no profile is active now' : `active profile: ${name}`));
  if (overridden && !rt.json) rt.note(`note: CONFIG_PROFILE=${overridden} is set in this environment and takes precedence over this choice.`);
  return 0;
}

async function remove(rt: Runtime, name: string): Promise<number> {
  const store = await rt.store();
  // Check first: asking to confirm the deletion of something that does not exist helps nobody.
  if (!(await store.profileExists(name))) {
    await store.loadProfile(name, { resolve: false }); // throws the library's E_NOT_FOUND with the file name
  }
  await rt.confirm(`delete profile "${name}"`, 'A backup is taken first');
  await store.deleteProfile(name, { ...(rt.opts.force ? { force: true } : {}) });
  rt.print({ deleted: name }, () => `deleted profile ${name} ${rt.p.dim('(a backup was taken: `config-persistence backup list`)')}`);
  return 0;
}

async function diff(rt: Runtime, a: string, b: string): Promise<number> {
  const store = await rt.store();
  const [left, right] = await Promise.all([store.loadProfile(a), store.loadProfile(b)]);
  const changes = (await rt.secrets()).changes(diffDocuments(left.data, right.data));
  rt.print({ from: a, to: b, changes }, () => renderChanges(changes, rt.p, `profiles ${a} and ${b} resolve to the same values`));
  return 0;
}
