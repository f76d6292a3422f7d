/**
 * `--limit` for listings that grow without bound (`backup list`, `history`): a table shows the
 * newest 50 and says how many more there are; `--json` lists everything unless a limit is given
 * (a script must not lose entries to a default meant for eyes).
 */
import type { Command } from 'commander';
import { parseCount } from './durations.js';
import { plural } from './output.js';
import type { Runtime } from './runtime.js';

/** Rows a table shows when no `--limit` is given. */
export const DEFAULT_TABLE_LIMIT = 50;

/** Adds `-n, --limit <n>` to a listing command. */
export function limitOption(command: Command): Command {
  return command.option('-n, --limit <n>', `show the newest n (default ${DEFAULT_TABLE_LIMIT} in tables, all with --json; 0 for all)`);
}

/** The newest `--limit` items of `items` (already newest first), and how many were left out. */
export function applyLimit<T>(rt: Runtime, items: readonly T[]): { shown: readonly T[]; hidden: number } {
  const given = rt.opts.limit === undefined ? undefined : parseCount(String(rt.opts.limit), '--limit');
  const limit = given ?? (rt.json ? 0 : DEFAULT_TABLE_LIMIT);
  if (limit === 0 || items.length <= limit) return { shown: items, hidden: 0 };
  return { shown: items.slice(0, limit), hidden: items.length - limit };
}

/** The line under a cut table: `… 2950 older backups not shown (--limit 0 shows all)`. */
export function hiddenLine(hidden: number, word: string): string {
  return hidden === 0 ? '' : `\n… ${plural(hidden, `older ${word}`)} not shown (--limit 0 shows all)`;
}
