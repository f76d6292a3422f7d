/**
 * Editing one config file: a field per value (or the whole file as JSON text, to add or remove
 * keys). A 422 puts each issue at its field (`aria-invalid`, `aria-describedby`, focus on the
 * first), or under the JSON text at its line; a 409 (someone saved first) offers to reload. The
 * state and the saving live in ./edit-session.ts.
 */
import { useRef } from 'preact/hooks';
import type { Issue } from '../api.js';
import { fieldId, issuesByField, type Field } from '../fields.js';
import { ErrorNote, html } from '../ui.js';
import { useEditSession, type Draft } from './edit-session.js';
import { JsonEditor } from './json-editor.js';

export function Editor({ file }: { file: string }) {
  const form = useRef<HTMLFormElement>(null);
  // After the render that marks the fields.
  const focusFirstInvalid = () => setTimeout(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);
  const { loaded, draft, reset, editField, editText, switchTo, save } = useEditSession(file, focusFirstInvalid);
  if (loaded.data === undefined) return html`<${ErrorNote} error=${loaded.error} /><p>Loading ${file}…</p>`;
  const { at, general } = draft.mode === 'form' ? issuesByField(draft.fields, draft.issues) : { at: new Map<string, Issue[]>(), general: [] };
  const submit = (e: Event) => {
    e.preventDefault();
    void save();
  };
  return html`
    <form ref=${form} class="editor" onSubmit=${submit} aria-labelledby="editor-title" novalidate>
      <h3 id="editor-title">Edit ${file} <span class="muted">${draft.version === null ? '(no history yet)' : `version ${draft.version}`}</span></h3>
      <${Notices} file=${file} draft=${draft} general=${general} onReload=${reset} />
      <div class="toolbar" role="group" aria-label="edit as">
        <button type="button" class="toggle" aria-pressed=${draft.mode === 'form'} onClick=${() => switchTo('form')}>Form</button>
        <button type="button" class="toggle" aria-pressed=${draft.mode === 'json'} onClick=${() => switchTo('json')}>JSON</button>
      </div>
      ${draft.mode === 'form'
        ? draft.fields.map((f, i) => html`<${FieldInput} field=${f} issues=${at.get(f.path) ?? []} onInput=${(value: string) => editField(i, value)} />`)
        : html`<${JsonEditor} file=${file} text=${draft.text} issues=${draft.issues} lineOf=${draft.lineOf} onInput=${editText} />`}
      <div class="actions">
        <button type="submit" disabled=${draft.busy}>${draft.busy ? 'Saving…' : `Save ${file}`}</button>
        <button type="button" onClick=${reset} disabled=${draft.busy || !draft.dirty}>Discard changes</button>
      </div>
    </form>`;
}

/** The conflict, stale-draft and validation notices above the fields. */
function Notices({ file, draft, general, onReload }: { file: string; draft: Draft; general: Issue[]; onReload(): void }) {
  const { issues } = draft;
  return html`
    ${draft.conflict && html`<div class="error" role="alert"><p>${file} was saved by someone else since you loaded it, so your save was refused (If-Match). Reload to see the current version; your edits here will be discarded.</p><button type="button" onClick=${onReload}>Reload ${file}</button></div>`}
    ${draft.stale && !draft.conflict && html`<div class="warning" role="status"><p>${file} changed elsewhere while you were editing. Saving will be refused; reload to edit the new version.</p><button type="button" onClick=${onReload}>Reload ${file}</button></div>`}
    ${issues.length > 0 && html`<div class="error" role="alert"><p>${issues.length === 1 ? '1 problem' : `${issues.length} problems`}: nothing was saved. ${draft.mode === 'form' ? 'Fix the marked fields.' : 'Each is listed under the text with its line.'}</p>
      ${general.length > 0 && html`<ul>${general.map((i) => html`<li><code>${i.path || '(document)'}</code> ${i.message}</li>`)}</ul>`}</div>`}
    <${ErrorNote} error=${draft.error} />`;
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
  // The API shows secrets as "***" and keeps the stored value when "***" comes back.
  const hint = field.kind === 'json' ? ' (JSON)' : field.kind === 'number' ? ' (number)' : field.text === '***' ? ' (secret: *** keeps it)' : '';
  return html`<div class=${`field${invalid ? ' invalid' : ''}`}>
    <label for=${id}>${label}<span class="muted">${hint}</span></label>
    <input type="text" id=${id} value=${field.text} inputmode=${field.kind === 'number' ? 'decimal' : undefined}
      spellcheck=${false} autocomplete="off" onInput=${(e: Event) => onInput((e.currentTarget as HTMLInputElement).value)} ...${described} />
    ${note}</div>`;
}
