/**
 * Backups and snapshots: list, take one, restore one (showing the safety backup the restore took
 * of what it replaced), delete one (asked twice), clean up by the directory's retention policy.
 */
import { useState } from 'preact/hooks';
import { call, seg } from '../api.js';
import { ErrorNote, bytes, html, useAction, useLoad, useShell, when } from '../ui.js';

interface Backup {
  id: string;
  file: string;
  kind: 'file' | 'snapshot';
  createdAt: string;
  size: number;
  trigger: string;
  label?: string;
  files?: string[];
}

interface Restored {
  restored: Backup;
  safetyBackup?: Backup;
}

export function BackupsView() {
  const { announce } = useShell();
  const list = useLoad(() => call<{ backups: Backup[] }>('GET', 'backups'), []);
  const files = useLoad(() => call<{ files: string[] }>('GET', 'files'), []);
  const [restored, setRestored] = useState<Restored | undefined>(undefined);
  const [deleting, setDeleting] = useState<string | undefined>(undefined);
  const action = useAction();

  const restore = async (b: Backup) => {
    const result = await action.run(() => call<Restored>('POST', `backups/${seg(b.id)}/restore`));
    if (result) {
      setRestored(result);
      announce(`Restored ${b.id}.${result.safetyBackup ? ` Safety backup: ${result.safetyBackup.id}.` : ''}`);
      list.reload();
    }
  };
  const remove = async (id: string) => {
    const result = await action.run(() => call('DELETE', `backups/${seg(id)}`));
    setDeleting(undefined);
    if (result) {
      announce(`Deleted ${id}.`);
      list.reload();
    }
  };
  const cleanup = async () => {
    const result = await action.run(() => call<{ removed: Backup[] }>('POST', 'backups/cleanup'));
    if (result) {
      announce(`Cleaned up by the retention policy: ${result.removed.length} removed.`);
      list.reload();
    }
  };
  const backups = list.data?.backups ?? [];
  return html`
    <h2>Backups and snapshots</h2>
    <${ErrorNote} error=${list.error ?? action.error} />
    ${restored && html`<section class="success" aria-labelledby="restored-title">
      <h3 id="restored-title">Restored ${restored.restored.id}</h3>
      ${restored.safetyBackup
        ? html`<p>Safety backup taken first, of what the restore replaced: <code class="safety-backup">${restored.safetyBackup.id}</code>. Restore it to undo.</p>`
        : html`<p>No safety backup was needed: nothing was replaced.</p>`}
    </section>`}
    <${TakeBackup} files=${files.data?.files ?? []} busy=${action.busy} run=${action.run} onTaken=${list.reload} />
    <div class="scroll" tabindex="0" role="region" aria-label="backups">
      <table>
        <caption>${backups.length} backups and snapshots, newest first</caption>
        <thead><tr><th scope="col">Backup</th><th scope="col">Of</th><th scope="col">Taken</th><th scope="col">Why</th><th scope="col">Size</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${backups.map((b) => html`<tr class=${restored?.safetyBackup?.id === b.id ? 'highlight' : ''}>
          <th scope="row"><code>${b.id}</code>${b.label ? html` <span class="tag">${b.label}</span>` : ''}</th>
          <td>${b.kind === 'snapshot' ? `snapshot of ${b.files?.length ?? 0} files` : b.file}</td>
          <td>${when(b.createdAt)}</td><td>${b.trigger}</td><td>${bytes(b.size)}</td>
          <td class="row-actions">
            <button type="button" onClick=${() => restore(b)} disabled=${action.busy} aria-label=${`Restore ${b.id}`}>Restore</button>
            ${deleting === b.id
              ? html`<button type="button" class="danger" onClick=${() => remove(b.id)} aria-label=${`Confirm deleting ${b.id}`}>Confirm delete</button>
                     <button type="button" onClick=${() => setDeleting(undefined)}>Keep</button>`
              : html`<button type="button" onClick=${() => setDeleting(b.id)} disabled=${action.busy} aria-label=${`Delete ${b.id}`}>Delete</button>`}
          </td></tr>`)}</tbody>
      </table>
    </div>
    <button type="button" onClick=${cleanup} disabled=${action.busy}>Clean up by the retention policy</button>`;
}

function TakeBackup({ files, busy, run, onTaken }: { files: string[]; busy: boolean; run: ReturnType<typeof useAction>['run']; onTaken(): void }) {
  const { announce } = useShell();
  const [target, setTarget] = useState('*');
  const [label, setLabel] = useState('');
  const take = async (e: Event) => {
    e.preventDefault();
    const body = { ...(target === '*' ? { snapshot: true } : { file: target }), ...(label ? { label } : {}) };
    const made = await run(() => call<Backup>('POST', 'backups', { body }));
    if (made) {
      announce(`Took ${made.id}.`);
      setLabel('');
      onTaken();
    }
  };
  return html`
    <form class="toolbar" onSubmit=${take} aria-label="take a backup">
      <label for="backup-target">Back up</label>
      <select id="backup-target" value=${target} onChange=${(e: Event) => setTarget((e.currentTarget as HTMLSelectElement).value)}>
        <option value="*">everything (snapshot)</option>
        ${files.map((f) => html`<option value=${f}>${f}</option>`)}
      </select>
      <label for="backup-label">Label</label>
      <input id="backup-label" type="text" value=${label} onInput=${(e: Event) => setLabel((e.currentTarget as HTMLInputElement).value)} />
      <button type="submit" disabled=${busy}>Take backup</button>
    </form>`;
}
