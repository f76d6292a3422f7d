/**
 * Importing a bundle exported without its secrets (the default: `includeSecrets` off). Its items
 * list the dot paths they hold as `"***"`; writing those would replace a password with three stars,
 * so an import keeps the value the target file has at each such path instead, and refuses the item
 * (nothing imported) when the target has none to keep.
 */
import { getPath, hasPath, setPath } from '../document/tree.js';
import { ValidationError } from '../errors.js';
import { REDACTED } from '../schema/secrets.js';
import type { BundleItem } from '../types.js';

/** Where a redacted item would go: the file it replaces (and that file's parsed data), if any. */
export interface RedactedTarget {
  /** What messages call the item: `the bundle (config "current")`. */
  label: string;
  /** The data of the file the item overwrites; undefined when it creates a new file. */
  existing?: unknown;
}

/**
 * The data an item is imported with: its own, with every redacted secret taken from the file it
 * overwrites. `E_VALIDATION` naming every path that has no value to keep.
 */
export function restoreSecrets(item: BundleItem, target: RedactedTarget): unknown {
  if (!item.redacted || item.redacted.length === 0) return item.data;
  let data = item.data;
  const missing: string[] = [];
  for (const path of item.redacted) {
    const segments = path === '' ? [] : path.split('.');
    // A value changed by hand after export is no longer the placeholder: it is imported as it is.
    if (getPath(data, segments) !== REDACTED) continue;
    if (target.existing !== undefined && hasPath(target.existing, segments)) data = setPath(data, segments, getPath(target.existing, segments));
    else missing.push(path);
  }
  if (missing.length === 0) return data;
  const where = target.existing === undefined ? 'it would create a new file' : 'the file it replaces has no value there';
  throw new ValidationError(
    target.label,
    missing.map((path) => ({
      path,
      message: `was exported as "${REDACTED}" (a secret) and ${where} to keep; export with includeSecrets: true (\`config-persistence --show-secrets export\`) to move secrets`,
    })),
  );
}
