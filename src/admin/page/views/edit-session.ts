/**
 * The state of editing one config file, apart from how it is shown (./editor.ts): the loaded
 * version, the draft as fields or JSON text, and what the last save said. Saving sends `If-Match`
 * with the loaded version; a change seen on the event stream reloads the draft unless it has unsaved
 * edits, which are then marked stale.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, seg, type Issue } from '../api.js';
import { documentOf, fieldsOf, type Field } from '../fields.js';
import { printJson } from '../json-text.js';
import { useLoad, useShell } from '../ui.js';

interface FileDoc {
  file: string;
  version: number | null;
  /** The If-Match value for a save based on this document (its version, or its sha256 without one). */
  etag: string;
  data: unknown;
}

/** Everything the editor shows. */
export interface Draft {
  mode: 'form' | 'json';
  fields: Field[];
  text: string;
  /** Line of each dot path in `text` as last laid out. */
  lineOf: Map<string, number>;
  version: number | null;
  /** What the GET's ETag said: sent back as If-Match, so a save is refused when the file moved on. */
  etag: string | null;
  dirty: boolean;
  /** The file changed elsewhere while the draft had unsaved edits. */
  stale: boolean;
  issues: Issue[];
  /** The last save was refused with 409 (If-Match stale). */
  conflict: boolean;
  error: unknown;
  busy: boolean;
}

const EMPTY: Draft = { mode: 'form', fields: [], text: '', lineOf: new Map(), version: null, etag: null, dirty: false, stale: false, issues: [], conflict: false, error: undefined, busy: false };

/** A document as both the form's fields and JSON text (with the line of each path). */
function laidOut(doc: unknown): Pick<Draft, 'fields' | 'text' | 'lineOf'> {
  const { text, lineOf } = printJson(doc);
  return { fields: fieldsOf(doc), text, lineOf };
}

/** The document being edited, with the issues of what cannot be read. */
function documentOfDraft(d: Draft): { doc: unknown; issues: Issue[] } {
  if (d.mode === 'form') return documentOf(d.fields);
  try {
    return { doc: JSON.parse(d.text), issues: [] };
  } catch (err) {
    return { doc: undefined, issues: [{ path: '', message: `is not JSON: ${(err as Error).message}` }] };
  }
}

export function useEditSession(file: string, onInvalid: () => void) {
  const { announce } = useShell();
  const loaded = useLoad(() => call<FileDoc>('GET', `files/${seg(file)}`), [file]);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const patch = (p: Partial<Draft>): void => setDraft((d) => ({ ...d, ...p }));

  useEffect(() => {
    const doc = loaded.data;
    if (doc === undefined) return;
    setDraft((d) => (d.dirty ? { ...d, stale: d.stale || doc.etag !== d.etag } : { ...d, ...laidOut(doc.data), version: doc.version, etag: doc.etag, stale: false }));
  }, [loaded.data]);

  const reset = (): void => {
    patch({ dirty: false, issues: [], conflict: false, stale: false, error: undefined });
    loaded.reload();
  };
  const editField = (index: number, text: string): void => setDraft((d) => ({ ...d, dirty: true, fields: d.fields.map((f, i) => (i === index ? { ...f, text } : f)) }));
  const editText = (text: string): void => patch({ text, dirty: true });
  const switchTo = (mode: Draft['mode']): void => {
    if (mode === draft.mode) return;
    const { doc, issues } = documentOfDraft(draft);
    patch(issues.length > 0 ? { issues } : { ...laidOut(doc), mode, issues: [] });
  };
  const save = async (): Promise<void> => {
    const { doc, issues } = documentOfDraft(draft);
    patch({ conflict: false, error: undefined, issues });
    if (issues.length > 0) return onInvalid();
    patch({ busy: true });
    try {
      const headers: Record<string, string> = draft.etag === null ? {} : { 'if-match': draft.etag };
      const saved = await call<{ version: number }>('PUT', `files/${seg(file)}`, { body: doc, headers });
      patch({ dirty: false, busy: false });
      announce(`Saved ${file} as version ${saved.version}.`);
      loaded.reload();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.issues.length > 0) {
        // In JSON, laid out again so that each issue's line is where its value is.
        patch({ busy: false, issues: err.issues, ...(draft.mode === 'json' ? { ...printJson(doc) } : {}) });
        onInvalid();
      } else patch({ busy: false, ...(err instanceof ApiError && err.status === 409 ? { conflict: true } : { error: err }) });
    }
  };
  return { loaded, draft, reset, editField, editText, switchTo, save };
}
