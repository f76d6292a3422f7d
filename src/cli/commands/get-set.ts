/**
 * `get <path>` and `set <path> <value>`: read and change one value of the effective configuration
 * (default ← profile chain ← profile ← current ← environment) by dot path.
 */
import type { Command } from 'commander';
import { NotFoundError } from '../../errors.js';
import { parseDotPath } from '../../core/names.js';
import { describeSource } from '../effective.js';
import { usageError } from '../errors.js';
import { formatDocument, formatValue } from '../output.js';
import { effectiveOptions, examples, type Kit, type Runtime } from '../runtime.js';
import { parseCliValue } from '../values.js';

/** Registers `get` and `set`. */
export function registerGetSet(program: Command, kit: Kit): void {
  examples(
    effectiveOptions(
      program
        .command('get')
        .description('print one value of the effective configuration (objects print as YAML); --json adds where it came from')
        .argument('<path>', 'dot path, e.g. server.port'),
    )
      .option('--explain', 'also print which file (and line) or variable the value comes from'),
    'config-persistence get server.port',
    'config-persistence get server.port --profile production --explain',
    'config-persistence --json get database',
  ).action(kit.act(get));

  examples(
    effectiveOptions(
      program
        .command('set')
        .description('change one value: saved to current.* (comments and key order are kept, a backup is taken)')
        .argument('<path>', 'dot path, e.g. server.port')
        .argument('<value>', 'a YAML scalar (8080 is a number, true a boolean, null a null), a flow list/map ([a, b]), else the text as typed')
        .option('--reason <text>', 'why, recorded in the history and the audit log')
        .option('--changed-by <who>', 'who made the change (default "user")'),
    ),
    'config-persistence set server.port 9090 --reason "port clash"',
    "config-persistence set allowedOrigins '[https://a.example, https://b.example]'",
    "config-persistence set app.name '\"1234\"'   # quoted: the string \"1234\", not a number",
  ).action(kit.act(set));
}

async function get(rt: Runtime, path: string): Promise<number> {
  parseDotPath(path); // E_INVALID_NAME for __proto__, empty segments... before anything is opened
  const config = await rt.configuration();
  if (!config.has(path)) {
    throw new NotFoundError(`"${path}" is not set in the effective configuration of ${config.store.baseDir}; list every value with \`config-persistence status\`.`);
  }
  const explanation = config.explain(path, rt.includeSecrets);
  const value = explanation.value;
  rt.print({ path, value, source: explanation.source ?? null, profile: config.activeProfile ?? null }, () => {
    const text = value !== null && typeof value === 'object' ? formatDocument(value) : formatValue(value, Infinity);
    return rt.opts.explain ? `${text}\n${rt.p.dim('from')} ${describeSource(explanation.source, rt.p)}` : text;
  });
  return 0;
}

async function set(rt: Runtime, path: string, raw: string): Promise<number> {
  if (parseDotPath(path).length === 0) throw usageError('set needs a dot path such as "server.port"');
  const typed = parseCliValue(raw);
  const config = await rt.configuration();
  config.set(path, typed);
  const result = await config.save({
    changedBy: (rt.opts.changedBy as string | undefined) ?? 'user',
    ...(rt.opts.reason !== undefined ? { reason: rt.opts.reason as string } : {}),
  });
  // What was typed is echoed back like any other value: a secret one as "***".
  const hide = await rt.secrets();
  const value = hide.at(typed, path);
  const effective = hide.at(config.get(path), path);
  rt.print({ path, value, effective, changed: result !== undefined, file: result?.path ?? null, version: result?.version ?? null, backup: result?.backup?.id ?? null }, () => {
    if (!result) return `${path} = ${formatValue(effective)}  ${rt.p.dim('(unchanged; nothing written)')}`;
    const backup = result.backup ? `, backup ${result.backup.id}` : '';
    const lines = [`${path} = ${formatValue(value)}  ${rt.p.dim(`(${result.path} version ${result.version}${backup})`)}`];
    const source = config.explain(path).source;
    if (source?.layer === 'env') lines.push(rt.p.yellow(`note: ${source.variable} overrides it in this environment (effective value ${formatValue(effective)})`));
    return lines.join('\n');
  });
  return 0;
}
