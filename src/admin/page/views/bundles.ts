/**
 * Import and export. Export: a selection of config files and profiles → a bundle to download (or
 * copy). Import: a bundle from a file or pasted, previewed with `dryRun=1` under the chosen conflict
 * rule (what would be created, skipped, renamed, overwritten), then confirmed.
 */
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, html, useAction, useLoad, useShell } from '../ui.js';

interface Item {
  kind: 'config' | 'profile';
  name: string;
  file: string;
  originalName?: string;
  reason?: string;
  backup?: string;
}

interface Report {
  dryRun: boolean;
  created: Item[];
  renamed: Item[];
  overwritten: Item[];
  skipped: Item[];
  snapshot?: string;
}

type Rule = 'skip' | 'rename' | 'overwrite';

export function BundlesView() {
  return html`<h2>Import and export</h2><div class="split even"><${ImportBundle} /><${ExportBundle} /></div>`;
}

function ImportBundle() {
  const { announce } = useShell();
  const [text, setText] = useState('');
  const [rule, setRule] = useState<Rule>('skip');
  const [preview, setPreview] = useState<{ report: Report; text: string; rule: Rule } | undefined>(undefined);
  const [done, setDone] = useState<Report | undefined>(undefined);
  const action = useAction();
  const send = (dryRun: boolean) => action.run(async () => {
    let bundle: unknown;
    try {
      bundle = JSON.parse(text);
    } catch {
      throw new Error('the bundle is not JSON: choose the file `export` wrote, or paste its whole text');
    }
    return call<Report>('POST', `import?onConflict=${rule}${dryRun ? '&dryRun=1' : ''}`, { body: bundle });
  });
  const previewIt = async (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    const report = await send(true);
    setPreview(report && { report, text, rule });
  };
  const confirm = async () => {
    const report = await send(false);
    if (report) {
      setDone(report);
      setPreview(undefined);
      announce(`Imported: ${summary(report)}.`);
    }
  };
  const readFile = async (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (file) setText(await file.text());
  };
  const current = preview !== undefined && preview.text === text && preview.rule === rule;
  return html`
    <section aria-labelledby="import-title" class="pane">
      <h3 id="import-title">Import a bundle</h3>
      <form onSubmit=${previewIt}>
        <div class="field"><label for="import-file">Bundle file</label><input id="import-file" type="file" accept=".json,application/json" onChange=${readFile} /></div>
        <div class="field"><label for="import-text">Bundle (JSON)</label>
          <textarea id="import-text" rows="6" spellcheck=${false} value=${text} onInput=${(e: Event) => setText((e.currentTarget as HTMLTextAreaElement).value)}></textarea></div>
        <fieldset><legend>When a file of the same name exists</legend>
          ${(['skip', 'rename', 'overwrite'] as const).map((r) => html`<div class="check">
            <input type="radio" name="on-conflict" id=${`on-conflict-${r}`} value=${r} checked=${rule === r} onChange=${() => setRule(r)} />
            <label for=${`on-conflict-${r}`}>${RULES[r]}</label></div>`)}
        </fieldset>
        <button type="submit" disabled=${action.busy || text.trim() === ''}>Preview the import</button>
      </form>
      <${ErrorNote} error=${action.error} />
      ${preview && html`<div role="status" class=${current ? '' : 'muted'}>
        <${ReportView} title="Preview: nothing written yet" report=${preview.report} />
        ${current
          ? html`<button type="button" onClick=${confirm} disabled=${action.busy}>Confirm the import (${preview.rule})</button>`
          : html`<p>The bundle or the rule changed since this preview: preview again.</p>`}</div>`}
      ${done && html`<div role="status" class="success"><${ReportView} title="Imported" report=${done} />
        ${done.snapshot && html`<p>Snapshot taken before the import: <code>${done.snapshot}</code>.</p>`}</div>`}
    </section>`;
}

const RULES: Record<Rule, string> = { skip: 'skip it (keep ours)', rename: 'rename the imported one', overwrite: 'overwrite ours (a backup is kept)' };

function summary(r: Report): string {
  return `${r.created.length} created, ${r.renamed.length} renamed, ${r.overwritten.length} overwritten, ${r.skipped.length} skipped`;
}

function ReportView({ title, report }: { title: string; report: Report }) {
  const group = (name: keyof Omit<Report, 'dryRun' | 'snapshot'>, label: string, detail: (i: Item) => string) => html`
    <h5>${label} (${report[name].length})</h5>
    ${report[name].length > 0 && html`<ul class=${`report ${name}`} aria-label=${label}>${report[name].map((i) => html`<li>${i.kind} <code>${i.file}</code>${detail(i)}</li>`)}</ul>`}`;
  return html`
    <h4>${title}: ${summary(report)}</h4>
    ${group('created', 'Created', () => '')}
    ${group('renamed', 'Renamed', (i) => ` (was ${i.originalName ?? '?'} in the bundle)`)}
    ${group('overwritten', 'Overwritten', (i) => (i.backup ? ` (backup ${i.backup})` : ''))}
    ${group('skipped', 'Skipped', (i) => (i.reason === 'identical' ? ' (identical)' : ' (exists)'))}`;
}

function ExportBundle() {
  const files = useLoad(() => call<{ files: string[] }>('GET', 'files'), []);
  const profiles = useLoad(() => call<{ profiles: { name: string }[] }>('GET', 'profiles'), []);
  const [excluded, setExcluded] = useState<Set<string>>(new Set());
  const [bundle, setBundle] = useState<{ text: string; url: string } | undefined>(undefined);
  const action = useAction();
  const toggle = (key: string) => setExcluded((s) => {
    const next = new Set(s);
    if (!next.delete(key)) next.add(key);
    return next;
  });
  const configs = (files.data?.files ?? []).filter((f) => !excluded.has(`config:${f}`));
  const chosenProfiles = (profiles.data?.profiles ?? []).map((p) => p.name).filter((p) => !excluded.has(`profile:${p}`));
  const exportIt = async (e: Event) => {
    e.preventDefault();
    const result = await action.run(() => call('POST', 'export', { body: { configs, profiles: chosenProfiles } }));
    if (result === undefined) return;
    if (bundle) URL.revokeObjectURL(bundle.url);
    const text = JSON.stringify(result, null, 2);
    setBundle({ text, url: URL.createObjectURL(new Blob([text], { type: 'application/json' })) });
  };
  const box = (key: string, label: string) => html`<div class="check">
    <input type="checkbox" id=${`export-${key}`} checked=${!excluded.has(key)} onChange=${() => toggle(key)} /><label for=${`export-${key}`}>${label}</label></div>`;
  return html`
    <section aria-labelledby="export-title" class="pane">
      <h3 id="export-title">Export a selection</h3>
      <${ErrorNote} error=${files.error ?? profiles.error ?? action.error} />
      <form onSubmit=${exportIt}>
        <fieldset><legend>Config files</legend>${files.data?.files.map((f) => box(`config:${f}`, f))}</fieldset>
        <fieldset><legend>Profiles</legend>${profiles.data?.profiles.map((p) => box(`profile:${p.name}`, p.name))}</fieldset>
        <p class="muted">Secrets are exported as "***"; an import keeps the values already there.</p>
        <button type="submit" disabled=${action.busy || configs.length + chosenProfiles.length === 0}>Export</button>
      </form>
      ${bundle && html`<div role="status">
        <p><a href=${bundle.url} download="config-bundle.json">Download the bundle (config-bundle.json)</a></p>
        <label for="export-text">The bundle</label>
        <textarea id="export-text" rows="8" readonly value=${bundle.text}></textarea></div>`}
    </section>`;
}
