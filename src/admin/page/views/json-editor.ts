/**
 * A file as JSON text, for edits the form cannot make (adding or removing keys). Validation issues
 * are listed under it by line, each with a button that selects its line in the text.
 */
import { useRef } from 'preact/hooks';
import type { Issue } from '../api.js';
import { lineOfPath, lineRange } from '../json-text.js';
import { html } from '../ui.js';

export function JsonEditor({ file, text, issues, lineOf, onInput }: { file: string; text: string; issues: Issue[]; lineOf: Map<string, number>; onInput(text: string): void }) {
  const area = useRef<HTMLTextAreaElement>(null);
  const invalid = issues.length > 0;
  const goTo = (line: number) => {
    const el = area.current;
    if (!el) return;
    const [start, end] = lineRange(el.value, line);
    el.focus();
    el.setSelectionRange(start, end);
    // Selecting does not scroll a textarea: bring the line into view, a few lines from the top.
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.scrollTop = Math.max(0, (line - 3) * lineHeight);
  };
  return html`
    <div class=${`field json${invalid ? ' invalid' : ''}`}>
      <label for="json-editor">${file} as JSON</label>
      <textarea id="json-editor" ref=${area} rows=${Math.min(24, Math.max(8, text.split('\n').length + 1))} spellcheck=${false} value=${text}
        onInput=${(e: Event) => onInput((e.currentTarget as HTMLTextAreaElement).value)}
        ...${invalid ? { 'aria-invalid': 'true', 'aria-describedby': 'json-editor-issues' } : {}}></textarea>
      ${invalid && html`<ul id="json-editor-issues" class="field-error">${issues.map((i) => {
        const line = i.line ?? lineOfPath(lineOf, i.path);
        return html`<li>${line !== undefined && html`<button type="button" onClick=${() => goTo(line)}>line ${line}</button> `}<code>${i.path || '(document)'}</code> ${i.message}</li>`;
      })}</ul>`}
    </div>`;
}
