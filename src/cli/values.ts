/**
 * Values typed on the command line: `set server.port 8080` stores the number 8080, `true` a boolean,
 * `null` a null, `[a, b]` a list; anything else is kept as the exact string typed.
 */
import { parse as parseYaml } from 'yaml';
import { usageError } from './errors.js';

/**
 * Parses a command-line value as a YAML 1.2 scalar or flow collection. Plain text that YAML would
 * mangle (`a # b` loses its "comment", `key: value` becomes a map) stays the string typed; quote a
 * value (`'"8080"'`) to force a string.
 */
export function parseCliValue(raw: string): unknown {
  const text = raw.trim();
  if (text === '') return raw;
  const flow = /^[[{]/.test(text);
  const quoted = /^["']/.test(text);
  let value: unknown;
  try {
    value = parseYaml(text, { schema: 'core', uniqueKeys: true, maxAliasCount: 0 });
  } catch (err) {
    if (flow || quoted) {
      throw usageError(`${JSON.stringify(raw)} is not a valid YAML value (${(err as Error).message.split('\n')[0]})`, "quote strings, e.g. '\"[not a list]\"'");
    }
    return raw;
  }
  if (flow || quoted) return value;
  if (typeof value === 'number') {
    // An integer past 2^53 would silently lose digits: keep what was typed.
    if (/^[-+]?\d+$/.test(text) && !Number.isSafeInteger(value)) return raw;
    return value;
  }
  if (typeof value === 'boolean' || value === null) return value;
  return raw;
}
