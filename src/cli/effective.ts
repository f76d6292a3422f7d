/**
 * The effective configuration as the CLI shows it: every value with the layer it came from.
 */
import type { Configuration } from '../api/configuration.js';
import type { Redactor } from '../schema/secrets.js';
import type { ValueSource } from '../types.js';
import { leaves, type Palette } from './output.js';

/** One leaf of the effective configuration and where it came from. */
export interface ValueRow {
  path: string;
  value: unknown;
  source: ValueSource | undefined;
}

/**
 * Every leaf (arrays whole) of the effective configuration with its deciding layer, read from the
 * document as `hide` shows it: a secret is one `"***"` leaf, whatever its keys look like.
 */
export function explainAll(config: Configuration, hide: Redactor): ValueRow[] {
  return leaves(hide.doc(config.data)).map(([path, value]) => {
    const explanation = safePath(path) ? config.explain(path) : undefined;
    return { path, value, source: explanation?.source };
  });
}

/** Keys with dots or prototype names cannot be addressed by a dot path; they are shown without a source. */
function safePath(path: string): boolean {
  return !path.split('.').some((s) => s === '' || s === '__proto__' || s === 'constructor' || s === 'prototype');
}

/** `config/default.yaml:4:9`, `profile production (config/profiles/production.yaml:3:3)`, `$SHOP__PORT`, `schema default`. */
export function describeSource(source: ValueSource | undefined, p: Palette): string {
  if (!source) return p.dim('?');
  const where = source.file ? `${source.file}${source.line !== undefined ? `:${source.line}:${source.column ?? 1}` : ''}` : '';
  switch (source.layer) {
    case 'env':
      return p.yellow(`env ${source.variable ?? ''}`.trim());
    case 'schema':
      return p.dim('schema default');
    case 'profile':
      return p.cyan(where);
    case 'current':
      return `${where}${source.unsaved ? ' (unsaved)' : ''}`;
    default:
      return p.dim(where);
  }
}
