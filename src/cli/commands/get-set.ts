/**
 * `get <path>` and `set <path> <value>`: read and change one value by dot path.
 */
import type { Command } from 'commander';
import { getPath, hasPath, setPath } from '../../document.js';
import { NotFoundError } from '../../errors.js';
import { parseDotPath } from '../../names.js';
import { usageError } from '../errors.js';
import { formatDocument, formatValue } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { parseCliValue } from '../values.js';

/** Registers `get` and `set`. */
export function registerGetSet(program: Command, kit: Kit): void {
  examples(
    program
      .command('get')
      .description('print one value of the configuration (a dot path; objects print as YAML)')
      .argument('<path>', 'dot path, e.g. server.port'),
    'config-persistence get server.port',
    'config-persistence --json get database',
  ).action(kit.act(get));

  examples(
    program
      .command('set')
      .description('change one value and save it to current.* (comments and key order are kept; a backup is taken)')
      .argument('<path>', 'dot path, e.g. server.port')
      .argument('<value>', 'a YAML scalar (8080 is a number, true a boolean, null a null) or a flow list/map ([a, b])')
      .option('--reason <text>', 'why, recorded in the history and the audit log')
      .option('--changed-by <who>', 'who made the change (default "user")'),
    'config-persistence set server.port 9090 --reason "port clash"',
    "config-persistence set allowedOrigins '[https://a.example, https://b.example]'",
  ).action(kit.act(set));
}

async function get(rt: Runtime, path: string): Promise<number> {
  const segments = parseDotPath(path);
  const store = rt.store();
  const doc = await store.loadConfig();
  if (!hasPath(doc, segments)) {
    throw new NotFoundError(`"${path}" is not set in ${store.baseDir}; see all values with \`config-persistence status\`.`);
  }
  const value = getPath(doc, segments);
  rt.print({ path, value }, () => (value !== null && typeof value === 'object' ? formatDocument(value) : formatValue(value, Infinity)));
  return 0;
}

async function set(rt: Runtime, path: string, raw: string): Promise<number> {
  const segments = parseDotPath(path);
  if (segments.length === 0) throw usageError('set needs a dot path such as "server.port"');
  const value = parseCliValue(raw);
  const store = rt.store();
  const result = await store.update(undefined, (doc) => setPath(doc ?? {}, segments, value), {
    changedBy: (rt.opts.changedBy as string | undefined) ?? 'user',
    ...(rt.opts.reason !== undefined ? { reason: rt.opts.reason as string } : {}),
  });
  rt.print({ path, value, file: result.path, version: result.version, backup: result.backup?.id ?? null }, () => {
    const backup = result.backup ? `, backup ${result.backup.id}` : '';
    return `${path} = ${formatValue(value)}  ${rt.p.dim(`(${result.path} version ${result.version}${backup})`)}`;
  });
  return 0;
}
