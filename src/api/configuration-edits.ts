/**
 * How `Configuration` edits and saves its `current.*` layer: the overlay changes of `set`/`delete`
 * (lists replace as a whole, values that only repeat the layers below are pruned), the rebase of the
 * touched paths onto the file as it is on disk, the locked rewrite of `current.*` and of the active
 * profile choice, and the check that a value fits in a JSON/YAML file.
 */
import { ACTIVE_PROFILE_KEY, writeActiveProfile } from '../profiles/active.js';
import type { Store } from './store.js';
import { cloneDocument, deepEqual, deletePath, getPath, hasPath, isPlainObject, mergeDocuments, safeSet, setPath } from '../document/tree.js';
import { readDocument, writeDocument, type WriteMeta } from '../changeset/documents.js';
import { mergeLayers, type Found, type Layer } from './layers.js';
import type { Touched } from './configuration-state.js';
import type { ChangedBy, SaveResult } from '../types.js';

/**
 * Rewrites `current.*` under its queue and cross-process lock: `build` gets the file as it is now
 * and returns the document to write (or `undefined` to write nothing).
 */
export function writeCurrent(store: Store, build: (fresh: Found) => Record<string, unknown> | undefined, meta: WriteMeta): Promise<{ result: SaveResult; found: Found } | undefined> {
  return store.enqueue(undefined, 'exclusive', (key) => () =>
    store.withLock(key, async () => {
      const before = await readDocument(store.ctx, key);
      const data = build(before ? { key, doc: before } : { key });
      if (data === undefined) return undefined;
      const result = await writeDocument(store.ctx, key, data, meta);
      const after = await readDocument(store.ctx, key);
      return { result, found: after ? { key, doc: after } : { key } };
    }),
  );
}

/** Persists the active-profile choice, in call order and under its lock. */
export function persistActiveProfile(store: Store, profile: string | undefined, changedBy: ChangedBy | undefined): Promise<void> {
  return store.queue.exclusive(ACTIVE_PROFILE_KEY, () => store.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(store.ctx, profile, changedBy)));
}

/** An in-memory change of the overlay: the new overlay and the part of it that was replaced. */
export interface OverlayEdit {
  overlay: Record<string, unknown>;
  unit: string[];
}

/** The overlay with `value` set at `segments` (`Configuration#set`); objects merge with the layers below. */
export function overlayWithSet(lower: Layer[], overlay: Record<string, unknown>, segments: string[], value: unknown): OverlayEdit {
  const base = mergeLayers(lower);
  const view = mergeDocuments(base, overlay);
  const unit = unitOf(view, segments);
  const target = unit.length === segments.length ? cloneDocument(value) : getPath(setPath(view, segments, value), unit);
  return { overlay: prune(setPath(overlay, unit, target), unit, base), unit };
}

/** The overlay with the value at `segments` removed (`Configuration#delete`); `undefined` when there was nothing to remove. */
export function overlayWithDelete(lower: Layer[], overlay: Record<string, unknown>, segments: string[]): OverlayEdit | undefined {
  const base = mergeLayers(lower);
  const view = mergeDocuments(base, overlay);
  const unit = unitOf(view, segments);
  if (unit.length === segments.length) {
    if (!hasPath(overlay, segments)) return undefined;
    return { overlay: dropEmptyParents(deletePath(overlay, segments), segments), unit };
  }
  if (!hasPath(view, segments)) return undefined;
  return { overlay: prune(setPath(overlay, unit, getPath(deletePath(view, segments), unit)), unit, base), unit };
}

/**
 * The part of the overlay a change at `segments` replaces: the path itself, or the outermost list on
 * the way (lists replace as a whole, so an element cannot be overridden alone).
 */
function unitOf(view: unknown, segments: string[]): string[] {
  for (let i = 1; i < segments.length; i++) {
    if (Array.isArray(getPath(view, segments.slice(0, i)))) return segments.slice(0, i);
  }
  return segments;
}

/** Drops the overlay's value at `unit` where it only repeats the layers below. */
function prune(overlay: Record<string, unknown>, unit: string[], base: Record<string, unknown>): Record<string, unknown> {
  if (!hasPath(base, unit)) return overlay;
  const pruned = pruneValue(getPath(overlay, unit), getPath(base, unit));
  if (pruned === undefined) return dropEmptyParents(deletePath(overlay, unit), unit);
  return setPath(overlay, unit, pruned);
}

function pruneValue(over: unknown, below: unknown): unknown {
  if (deepEqual(over, below)) return undefined;
  if (!isPlainObject(over) || !isPlainObject(below)) return over;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(over)) {
    const kept = Object.hasOwn(below, key) ? pruneValue(over[key], below[key]) : over[key];
    if (kept !== undefined) safeSet(out, key, kept);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Removes objects left empty along `segments` by a removal (never the root). */
function dropEmptyParents(doc: Record<string, unknown>, segments: string[]): Record<string, unknown> {
  let out = doc;
  for (let n = segments.length - 1; n >= 1; n--) {
    const parent = segments.slice(0, n);
    const node = getPath(out, parent);
    if (!isPlainObject(node) || Object.keys(node).length > 0) break;
    out = deletePath(out, parent);
  }
  return out;
}

/** Applies the touched paths of `mine` onto `fresh` (the file as it is now): set where `mine` has a value, removed where not. */
export function rebase(fresh: Record<string, unknown>, touched: Iterable<Touched>, mine: Record<string, unknown>): Record<string, unknown> {
  let out = cloneDocument(fresh);
  for (const { segments } of touched) {
    if (hasPath(mine, segments)) out = setPath(out, segments, getPath(mine, segments));
    else if (hasPath(out, segments)) out = dropEmptyParents(deletePath(out, segments), segments);
  }
  return out;
}

/** The first part of `value` a JSON/YAML document cannot hold, if any. */
export function jsonProblem(value: unknown, path = ''): { path: string; message: string } | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path, message: `${value} cannot be stored in a config file; use a finite number` };
  if (value === undefined) return { path, message: 'undefined is not a value; use delete() to remove it, or null' };
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const problem = jsonProblem(item, path ? `${path}.${i}` : String(i));
      if (problem) return problem;
    }
    return undefined;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const problem = jsonProblem(value[key], path ? `${path}.${key}` : key);
      if (problem) return problem;
    }
    return undefined;
  }
  return { path, message: `a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value} cannot be stored in a config file; use plain objects, lists, strings, numbers, booleans or null` };
}
