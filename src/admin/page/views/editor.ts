/**
 * Editing one config file: a field per value (or the whole file as JSON text, to add or remove
 * keys), saved with `PUT files/{file}` and `If-Match` on the version it was loaded at. A 422 puts
 * each issue at its field (`aria-invalid`, `aria-describedby`), or at its line in the JSON text;
 * a 409 (someone saved first) offers to reload. A change seen on the event stream reloads the
 * fields unless there are unsaved edits, which are then flagged as stale.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, seg, type Issue } from '../api.js';
import { documentOf, fieldId, fieldsOf, issuesByField, type Field } from '../fields.js';
import { printJson } from '../json-text.js';
import { ErrorNote, html, useLoad, useShell } from '../ui.js';
import { JsonEditor } from './json-editor.js';

interface FileDoc {
  file: string;
  version: number | null;
  data: unknown;
}

export function Editor({ file }: { file: string }) {
  const { announce } = useShell();
  const loaded = useLoad(() => call<FileDoc>('GET', `files/${seg(file)}`), [file]);
  const [fields, setFields] = useState<Field[]>([]);
  const [mode, setMode] = useState<'form' | 'json'>('form');
  const [text, setText] = useState('');
  const [lineOf, setLineOf] = useState<Map<string, number>>(new Map());
  const [version, setVersion] = useState<number | null>(null);
  const [dirty, setDirty] = useState(false);
  const [stale, setStale] = useState(false);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [conflict, setConflict] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);

  useEffect(() => {
    const doc = loaded.data;
    if (doc === undefined) return;
    if (dirty) {
      if (doc.version !== version) setStale(true);
      return;
    }
    setFields(fieldsOf(doc.data));
    const printed = printJson(doc.data);
    setText(printed.text);
    setLineOf(printed.lineOf);
    setVersion(doc.version);
    setStale(false);
  }, [loaded.data]);

  const reset = (): void => {
    setDirty(false);
    setIssues([]);
    setConflict(false);
    setStale(false);
    setError(undefined);
    loaded.reload();
  };
  const edit = (index: number, text: string): void => {
    setFields((fs) => fs.map((f, i) => (i === index ? { ...f, text } : f)));
    setDirty(true);
  };
  const editText = (value: string): void => {
    setText(value);
    setDirty(true);
  };
  /** The document being edited, from the form or the JSON text, with what cannot be read. */
  const current = (): { doc: unknown; issues: Issue[] } => {
    if (mode === 'form') return documentOf(fields);
    try {
      return { doc: JSON.parse(text), issues: [] };
    } catch (err) {
      return { doc: undefined, issues: [{ path: '', message: `is not JSON: ${(err as Error).message}` }] };
    }
  };
  const switchTo = (next: 'form' | 'json'): void => {
    if (next === mode) return;
    const { doc, issues: unreadable } = current();
    setIssues(unreadable);
    if (unreadable.length > 0) return;
    if (next === 'json') {
      const printed = printJson(doc);
      setText(printed.text);
      setLineOf(printed.lineOf);
    } else setFields(fieldsOf(doc));
    setMode(next);
  };
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    const { doc, issues: unreadable } = current();
    setConflict(false);
    setError(undefined);
    setIssues(unreadable);
    if (unreadable.length > 0) return focusFirstInvalid(form.current);
    setBusy(true);
    try {
      const headers: Record<string, string> = version === null ? {} : { 'if-match': `"${version}"` };
      const saved = await call<{ version: number }>('PUT', `files/${seg(file)}`, { body: doc, headers });
      setDirty(false);
      announce(`Saved ${file} as version ${saved.version}.`);
      loaded.reload();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.issues.length > 0) {
        if (mode === 'json') {
          // Laid out again so that each issue's line is where its value is.
          const printed = printJson(doc);
          setText(printed.text);
          setLineOf(printed.lineOf);
        }
        setIssues(err.issues);
        focusFirstInvalid(form.current);
      } else if (err instanceof ApiError && err.status === 409) setConflict(true);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (loaded.data === undefined) return html`<${ErrorNote} error=${loaded.error} /><p>Loading ${file}…</p>`;
  const { at, general } = mode === 'form' ? issuesByField(fields, issues) : { at: new Map<string, Issue[]>(), general: [] };
  return html`
    <form ref=${form} class="editor" onSubmit=${save} aria-labelledby="editor-title" novalidate>
      <h3 id="editor-title">Edit ${file} <span class="muted">${version === null ? '(no history yet)' : `version ${version}`}</span></h3>
      ${conflict && html`<div class="error" role="alert"><p>${file} was saved by someone else since you loaded it, so your save was refused (If-Match). Reload to see the current version; your edits here will be discarded.</p><button type="button" onClick=${reset}>Reload ${file}</button></div>`}
      ${stale && !conflict && html`<div class="warning" role="status"><p>${file} changed elsewhere while you were editing. Saving will be refused; reload to edit the new version.</p><button type="button" onClick=${reset}>Reload ${file}</button></div>`}
      ${(issues.length > 0) && html`<div class="error" role="alert"><p>${issues.length === 1 ? '1 problem' : `${issues.length} problems`}: nothing was saved. ${mode === 'form' ? 'Fix the marked fields.' : 'Each is listed under the text with its line.'}</p>
        ${general.length > 0 && html`<ul>${general.map((i) => html`<li><code>${i.path || '(document)'}</code> ${i.message}</li>`)}</ul>`}</div>`}
      <${ErrorNote} error=${error} />
      <div class="toolbar" role="group" aria-label="edit as">
        <button type="button" class="toggle" aria-pressed=${mode === 'form'} onClick=${() => switchTo('form')}>Form</button>
        <button type="button" class="toggle" aria-pressed=${mode === 'json'} onClick=${() => switchTo('json')}>JSON</button>
      </div>
      ${mode === 'form'
        ? fields.map((f, i) => html`<${FieldInput} field=${f} issues=${at.get(f.path) ?? []} onInput=${(value: string) => edit(i, value)} />`)
        : html`<${JsonEditor} file=${file} text=${text} issues=${issues} lineOf=${lineOf} onInput=${editText} />`}
      <div class="actions">
        <button type="submit" disabled=${busy}>${busy ? 'Saving…' : `Save ${file}`}</button>
        <button type="button" onClick=${reset} disabled=${busy || !dirty}>Discard changes</button>
      </div>
    </form>`;
}

function FieldInput({ field, issues, onInput }: { field: Field; issues: Issue[]; onInput(text: string): void }) {
  const id = fieldId(field.path);
  const errorId = `${id}-error`;
  const invalid = issues.length > 0;
  const described = invalid ? { 'aria-invalid': 'true', 'aria-describedby': errorId } : {};
  const label = field.path || '(whole document)';
  const note = invalid && html`<p id=${errorId} class="field-error">${issues.map((i) => i.message).join('; ')}</p>`;
  if (field.kind === 'boolean') {
    return html`<div class=${`field check${invalid ? ' invalid' : ''}`}>
      <input type="checkbox" id=${id} checked=${field.text === 'true'} onChange=${(e: Event) => onInput(String((e.currentTarget as HTMLInputElement).checked))} ...${described} />
      <label for=${id}>${label}</label>${note}</div>`;
  }
  const hint = field.kind === 'json' ? ' (JSON)' : field.kind === 'number' ? ' (number)' : '';
  return html`<div class=${`field${invalid ? ' invalid' : ''}`}>
    <label for=${id}>${label}<span class="muted">${hint}</span></label>
    <input type="text" id=${id} value=${field.text} inputmode=${field.kind === 'number' ? 'decimal' : undefined}
      spellcheck=${false} autocomplete="off" onInput=${(e: Event) => onInput((e.currentTarget as HTMLInputElement).value)} ...${described} />
    ${note}</div>`;
}

function focusFirstInvalid(form: HTMLFormElement | null): void {
  // After the render that marks the fields.
  setTimeout(() => form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);
}
