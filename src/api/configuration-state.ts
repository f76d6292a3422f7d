/**
 * The state of a `Configuration`: the layers merged with its `current.*` overlay and the
 * environment, validated and frozen (swapped as a whole), the files it lists as its sources, and
 * `explain`, which finds the layers that hold a value at a path.
 */
import type { Context } from '../core/context.js';
import { cloneDocument, deepFreeze, getPath, hasPath, setPath } from '../document/tree.js';
import { applyEnv, envDocument, type AppliedEnv, type EnvEntry } from './env.js';
import { mergeLayersIn, validateLayers, type Found, type Layer } from './layers.js';
import { parseDotPath } from '../core/names.js';
import { layerPaths } from '../schema/merge.js';
import { envTyping, type Stack } from './configuration-sources.js';
import type { ActiveProfileSource, DeepReadonly, LayerInfo, ValueExplanation, ValueSource } from '../types.js';

/** Everything the instance shows, swapped as a whole so readers never see half an update. */
export interface State<T> {
  profile: string | undefined;
  source: ActiveProfileSource;
  lower: Layer[];
  current: { key: string; file: string; text?: string; exists: boolean };
  /** `current.*` as it will be saved: the file's data plus unsaved `set`/`delete`. */
  overlay: Record<string, unknown>;
  applied: AppliedEnv[];
  data: DeepReadonly<T>;
}

export interface Touched {
  segments: string[];
  seq: number;
}

/** Merges and validates a candidate state; throws (changing nothing) when it is invalid. */
export function buildState<T>(ctx: Context, env: readonly EnvEntry[], stack: Stack, profile: string | undefined, source: ActiveProfileSource, overlay: Record<string, unknown>): State<T> {
  const current = { key: stack.current.key, file: ctx.storage.describe(stack.current.key), exists: Boolean(stack.current.doc) } as State<T>['current'];
  if (stack.current.doc) current.text = stack.current.doc.text;
  const currentLayer: Layer = { kind: 'current', key: current.key, file: current.file, data: overlay, exists: current.exists };
  if (current.text !== undefined) currentLayer.text = current.text;
  const { data: merged, applied } = applyEnv(mergeLayersIn(ctx, stack.lower, overlay), env, envTyping(ctx));
  const envLayer: Layer = {
    kind: 'env',
    file: 'environment',
    data: envDocument(applied),
    exists: applied.length > 0,
    variables: applied.map((a) => ({ variable: a.variable, path: a.path })),
  };
  const valid = validateLayers(ctx, merged, [...stack.lower, currentLayer, envLayer], { applyDefaults: true });
  return { profile, source, lower: stack.lower, current, overlay, applied, data: deepFreeze(valid) as DeepReadonly<T> };
}

/**
 * Throws `E_VALIDATION` naming the `current.*` file when the layers with `overlay` as that file
 * are invalid without the environment (SPEC: `save()`). Positions are left out: the text they
 * would point into is not written yet.
 */
export function assertValidWithoutEnv(ctx: Context, env: readonly EnvEntry[], current: State<unknown>['current'], lower: readonly Layer[], overlay: Record<string, unknown>): void {
  if (env.length === 0) return;
  const { key, file } = current;
  const currentLayer: Layer = { kind: 'current', key, file, data: overlay, exists: true };
  validateLayers(ctx, mergeLayersIn(ctx, lower, overlay), [...lower, currentLayer], { target: file, applyDefaults: true });
}

export function currentFound(st: State<unknown>): Found {
  // Only key and text matter to build(): the data comes from the overlay.
  if (st.current.text === undefined) return { key: st.current.key };
  const text = st.current.text;
  return { key: st.current.key, doc: { key: st.current.key, bytes: Buffer.from(text), text, data: null, sha256: '' } };
}

/** The files (and the environment) that make up the configuration, lowest first. */
export function layerInfos(st: State<unknown>): LayerInfo[] {
  const infos: LayerInfo[] = st.lower.map((layer) => {
    const info: LayerInfo = { layer: layer.kind, file: layer.file, exists: layer.exists };
    if (layer.key !== undefined) info.key = layer.key;
    if (layer.profile !== undefined) info.profile = layer.profile;
    return info;
  });
  infos.push({ layer: 'current', key: st.current.key, file: st.current.file, exists: st.current.exists });
  if (st.applied.length > 0) infos.push({ layer: 'env', file: 'environment', exists: true });
  return infos;
}

/**
 * Where the value at a dot path comes from: the deciding layer (file and line, profile, or
 * environment variable) and every other layer that holds a value there, highest first.
 */
export function explainValue(ctx: Context, st: State<unknown>, pending: Iterable<Touched>, path: string): ValueExplanation {
  const segments = parseDotPath(path);
  const found = hasPath(st.data, segments);
  const value = getPath(st.data, segments);
  const candidates: Array<{ source: Omit<ValueSource, 'value'>; data: unknown; key?: string; text?: string }> = [];
  for (const a of [...st.applied].reverse()) candidates.push({ source: { layer: 'env', variable: a.variable, ...(a.origin ? { file: a.origin.file, line: a.origin.line } : {}) }, data: setPath({}, a.path, a.value) });
  const unsaved = [...pending].some((t) => startsWith(segments, t.segments) || startsWith(t.segments, segments));
  candidates.push({
    source: { layer: 'current', file: st.current.file, ...(unsaved ? { unsaved: true } : {}) },
    data: st.overlay,
    key: st.current.key,
    ...(st.current.text !== undefined && !unsaved ? { text: st.current.text } : {}),
  });
  for (const layer of [...st.lower].reverse()) {
    candidates.push({
      source: { layer: layer.kind === 'env' || layer.kind === 'current' ? 'default' : layer.kind, file: layer.file, ...(layer.profile !== undefined ? { profile: layer.profile } : {}) },
      data: layer.data,
      ...(layer.key !== undefined ? { key: layer.key } : {}),
      ...(layer.text !== undefined ? { text: layer.text } : {}),
    });
  }
  // Through a list merged with `append` or `{ by }`, an element's path differs from layer to layer.
  const schema = ctx.schema.isReady ? ctx.schema.document : undefined;
  const paths = layerPaths(schema, [...candidates].reverse().map((c) => c.data), st.data, segments).reverse();
  const layers: ValueSource[] = [];
  let blocked = false;
  for (const [i, c] of candidates.entries()) {
    const at = paths[i];
    const relation = at === undefined ? 'none' : relationOf(c.data, at);
    if (relation === 'blocks' && layers.length === 0) blocked = true;
    if (relation !== 'has' || at === undefined) continue;
    const source: ValueSource = { ...c.source, value: cloneDocument(getPath(c.data, at)) };
    const position = c.key !== undefined && c.text !== undefined ? ctx.codecs.locate(c.key, c.text, at) : undefined;
    if (position) {
      source.line = position.line;
      source.column = position.column;
    }
    layers.push(source);
  }
  const result: ValueExplanation = { path, found, value: cloneDocument(value), layers };
  if (found && layers.length > 0 && !blocked) result.source = layers[0]!;
  else if (found) {
    const schemaFile = ctx.schema.schemaFile;
    result.source = { layer: 'schema', value: cloneDocument(value), ...(schemaFile !== undefined ? { file: schemaFile } : {}) };
  }
  return result;
}

/** How a layer relates to a path: holds a value there, replaces a parent with a non-object (`blocks`), or neither. */
function relationOf(data: unknown, segments: readonly string[]): 'has' | 'blocks' | 'none' {
  let node = data;
  for (let i = 0; i < segments.length; i++) {
    if (node === null || typeof node !== 'object') return i === 0 ? 'none' : 'blocks';
    if (!Object.hasOwn(node, segments[i]!)) return Array.isArray(node) && i > 0 ? 'blocks' : 'none';
    node = (node as Record<string, unknown>)[segments[i]!];
  }
  return 'has';
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}
