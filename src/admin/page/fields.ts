/**
 * A document as a list of form fields and back: every leaf (strings, numbers, booleans; arrays,
 * null and empty objects as JSON text) becomes one field named by its dot path, and validation
 * issues find their field by that path (or the nearest field above it).
 */
import type { Issue } from './api.js';

/** One editable leaf. */
export interface Field {
  /** Dot path, as the server's issues name it. */
  path: string;
  segments: string[];
  kind: 'string' | 'number' | 'boolean' | 'json';
  /** What the input shows (`true`/`false` for a checkbox). */
  text: string;
}

/** The fields of a document, in document order. */
export function fieldsOf(data: unknown, segments: string[] = []): Field[] {
  if (isObject(data) && Object.keys(data).length > 0) {
    return Object.entries(data).flatMap(([k, v]) => fieldsOf(v, [...segments, k]));
  }
  const path = segments.join('.');
  if (typeof data === 'string') return [{ path, segments, kind: 'string', text: data }];
  if (typeof data === 'number') return [{ path, segments, kind: 'number', text: String(data) }];
  if (typeof data === 'boolean') return [{ path, segments, kind: 'boolean', text: String(data) }];
  return [{ path, segments, kind: 'json', text: JSON.stringify(data) }];
}

/** The document the fields describe, or the issues of fields whose text cannot be read. */
export function documentOf(fields: Field[]): { doc: unknown; issues: Issue[] } {
  const issues: Issue[] = [];
  let doc: unknown = {};
  for (const f of fields) {
    const value = valueOf(f, issues);
    if (f.segments.length === 0) doc = value;
    else setAt(doc as Record<string, unknown>, f.segments, value);
  }
  return { doc, issues };
}

function valueOf(f: Field, issues: Issue[]): unknown {
  switch (f.kind) {
    case 'string':
      return f.text;
    case 'boolean':
      return f.text === 'true';
    case 'number': {
      // Text that is no number is sent as it is: the schema then says what the field must be.
      const n = Number(f.text);
      return f.text.trim() !== '' && Number.isFinite(n) ? n : f.text;
    }
    case 'json':
      try {
        return JSON.parse(f.text);
      } catch {
        issues.push({ path: f.path, message: 'is not valid JSON (lists look like ["a", "b"], text needs "quotes")' });
        return undefined;
      }
  }
}

function setAt(doc: Record<string, unknown>, segments: string[], value: unknown): void {
  let at = doc;
  for (const s of segments.slice(0, -1)) {
    if (!isObject(at[s])) at[s] = {};
    at = at[s] as Record<string, unknown>;
  }
  at[segments[segments.length - 1]!] = value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Issues by the field they belong to: the field at the issue's path or the nearest one above it
 * (an array's item belongs to the array's field); issues about an object as a whole (a missing or
 * unknown key) have no field and are returned apart.
 */
export function issuesByField(fields: Field[], issues: Issue[]): { at: Map<string, Issue[]>; general: Issue[] } {
  const at = new Map<string, Issue[]>();
  const general: Issue[] = [];
  const paths = new Set(fields.map((f) => f.path));
  for (const issue of issues) {
    const segments = normalize(issue.path).split('.').filter((s) => s !== '');
    let owner: string | undefined;
    for (let n = segments.length; n >= 0 && owner === undefined; n--) {
      const candidate = segments.slice(0, n).join('.');
      if (paths.has(candidate)) owner = candidate;
    }
    if (owner === undefined) general.push(issue);
    else at.set(owner, [...(at.get(owner) ?? []), issue]);
  }
  return { at, general };
}

/** `a[0].b` and `/a/0/b` as `a.0.b`. */
function normalize(path: string): string {
  return path.replace(/\[(\d+)\]/g, '.$1').replace(/^\//, '').replace(/\//g, '.');
}

/** An element id for a field's path (ids cannot hold every character a key can). */
export function fieldId(path: string): string {
  return `field-${Array.from(path, (ch) => (/[A-Za-z0-9-]/.test(ch) ? ch : `_${ch.charCodeAt(0).toString(16)}`)).join('')}`;
}
