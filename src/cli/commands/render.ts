/**
 * Rendering shared by several commands.
 */
import type { Change } from '../../types.js';
import { isPlainObject } from '../../document/tree.js';
import { formatValue, leaves, type Palette } from '../output.js';

/**
 * Changes by dot path: `- path old`, `+ path new`, `~ path old → new`. A whole object added or
 * removed is shown leaf by leaf, so no value is cut off.
 */
export function renderChanges(changes: readonly Change[], p: Palette, none: string): string {
  if (changes.length === 0) return p.dim(none);
  return expand(changes)
    .map((c) => {
      const path = c.path || '(root)';
      if (c.type === 'added') return p.green(`+ ${path}: ${formatValue(c.newValue)}`);
      if (c.type === 'removed') return p.red(`- ${path}: ${formatValue(c.oldValue)}`);
      return p.yellow(`~ ${path}: ${formatValue(c.oldValue)} → ${formatValue(c.newValue)}`);
    })
    .join('\n');
}

function expand(changes: readonly Change[]): Change[] {
  return changes.flatMap((c): Change[] => {
    if (c.type === 'added' && isPlainObject(c.newValue)) {
      return leaves(c.newValue, c.path).map(([path, newValue]) => ({ path, type: 'added', newValue }));
    }
    if (c.type === 'removed' && isPlainObject(c.oldValue)) {
      return leaves(c.oldValue, c.path).map(([path, oldValue]) => ({ path, type: 'removed', oldValue }));
    }
    return [c];
  });
}
