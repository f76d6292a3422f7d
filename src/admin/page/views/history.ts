/** The history of a file: its versions, the diff between any two, and a rollback to one. */
import { useEffect, useState } from 'preact/hooks';
import { call, seg } from '../api.js';
import { ErrorNote, html, show, useAction, useLoad, useShell, when } from '../ui.js';

interface Version {
  version: number;
  createdAt: string;
  changedBy: string;
  reason?: string;
  operation?: string;
}

interface Change {
  path: string;
  type: 'added' | 'removed' | 'changed';
  oldValue?: unknown;
  newValue?: unknown;
}

export function HistoryView() {
  const files = useLoad(() => call<{ files: string[] }>('GET', 'files'), []);
  const [file, setFile] = useState('');
  const chosen = file || files.data?.files[0] || '';
  return html`
    <h2>History</h2>
    <${ErrorNote} error=${files.error} />
    <div class="toolbar">
      <label for="history-file">File</label>
      <select id="history-file" value=${chosen} onChange=${(e: Event) => setFile((e.currentTarget as HTMLSelectElement).value)}>
        ${files.data?.files.map((f) => html`<option value=${f}>${f}</option>`)}
      </select>
    </div>
    ${chosen && html`<${FileHistory} key=${chosen} file=${chosen} />`}`;
}

function FileHistory({ file }: { file: string }) {
  const { announce } = useShell();
  const history = useLoad(() => call<{ versions: Version[] }>('GET', `history/${seg(file)}`), [file]);
  const versions = history.data?.versions ?? [];
  const [from, setFrom] = useState<number | undefined>(undefined);
  const [to, setTo] = useState<number | undefined>(undefined);
  const [diff, setDiff] = useState<{ from: number; to: number; changes: Change[] } | undefined>(undefined);
  const action = useAction();
  useEffect(() => {
    // Default: the newest version against the one before it.
    if (from === undefined && versions.length > 1) setFrom(versions[1]!.version);
    if (to === undefined && versions.length > 0) setTo(versions[0]!.version);
  }, [versions.length]);

  const compare = async (e: Event) => {
    e.preventDefault();
    if (from === undefined || to === undefined) return;
    const result = await action.run(() => call<{ changes: Change[] }>('GET', `diff/${seg(file)}?from=${from}&to=${to}`));
    if (result) setDiff({ from, to, changes: result.changes });
  };
  const rollback = async (version: number) => {
    const result = await action.run(() => call<{ version: number }>('POST', `history/${seg(file)}/rollback`, { body: { version } }));
    if (result) {
      announce(`Rolled ${file} back to version ${version}: it is now version ${result.version}.`);
      history.reload();
    }
  };
  const picker = (id: string, label: string, value: number | undefined, set: (v: number) => void) => html`
    <label for=${id}>${label}</label>
    <select id=${id} value=${value === undefined ? '' : String(value)} onChange=${(e: Event) => set(Number((e.currentTarget as HTMLSelectElement).value))}>
      ${versions.map((v) => html`<option value=${String(v.version)}>version ${v.version}</option>`)}
    </select>`;
  return html`
    <${ErrorNote} error=${history.error ?? action.error} />
    ${versions.length === 0 && history.data && html`<p>${file} has no history yet: versions are recorded from its first save.</p>`}
    ${versions.length > 0 && html`
      <div class="scroll" tabindex="0" role="region" aria-label=${`versions of ${file}`}>
        <table>
          <caption>${versions.length} versions of ${file}, newest first</caption>
          <thead><tr><th scope="col">Version</th><th scope="col">When</th><th scope="col">By</th><th scope="col">What</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${versions.map((v, i) => html`<tr>
            <th scope="row">${v.version}</th><td>${when(v.createdAt)}</td><td>${v.changedBy}</td><td>${[v.operation, v.reason].filter(Boolean).join(': ')}</td>
            <td>${i > 0 && html`<button type="button" onClick=${() => rollback(v.version)} disabled=${action.busy}>Roll back to version ${v.version}</button>`}</td></tr>`)}</tbody>
        </table>
      </div>
      <form class="toolbar" onSubmit=${compare}>
        ${picker('diff-from', 'From', from, setFrom)} ${picker('diff-to', 'To', to, setTo)}
        <button type="submit" disabled=${action.busy}>Show the diff</button>
      </form>`}
    ${diff && html`<${Diff} ...${diff} />`}`;
}

function Diff({ from, to, changes }: { from: number; to: number; changes: Change[] }) {
  return html`
    <section aria-labelledby="diff-title" class="diff">
      <h3 id="diff-title">Changes from version ${from} to version ${to}</h3>
      ${changes.length === 0 ? html`<p>No differences.</p>` : html`
        <ul>${changes.map((c) => html`<li class=${c.type}><code>${c.path}</code> <strong>${c.type}</strong>: ${change(c)}</li>`)}</ul>`}
    </section>`;
}

function change(c: Change) {
  if (c.type === 'added') return html`<ins>${show(c.newValue)}</ins>`;
  if (c.type === 'removed') return html`<del>${show(c.oldValue)}</del>`;
  return html`<del>${show(c.oldValue)}</del> → <ins>${show(c.newValue)}</ins>`;
}
