/** The effective configuration, optionally under another profile, with the source of every value. */
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, html, show, useLoad, useShell } from '../ui.js';

interface Source {
  layer: string;
  file?: string;
  profile?: string;
  variable?: string;
  line?: number;
  column?: number;
  unsaved?: boolean;
}

interface Effective {
  profile: string | null;
  values: { path: string; value: unknown; source?: Source }[];
}

/** `config/default.yaml:4:9`, `profile production — config/profiles/production.yaml:3:3`, `env SHOP_PORT`, `schema default`. */
export function describeSource(source: Source | undefined, baseDir: string): string {
  if (!source) return 'unknown';
  // Files inside the store's directory are named from it, as the Files view names them.
  const file = baseDir && source.file?.startsWith(`${baseDir}/`) ? source.file.slice(baseDir.length + 1) : source.file;
  const where = file ? `${file}${source.line !== undefined ? `:${source.line}:${source.column ?? 1}` : ''}` : '';
  switch (source.layer) {
    case 'env':
      return `env ${source.variable ?? ''}`.trim();
    case 'schema':
      return 'schema default';
    case 'profile':
      return `profile ${source.profile ?? ''} — ${where}`;
    default:
      return `${where}${source.unsaved ? ' (unsaved)' : ''}` || source.layer;
  }
}

export function EffectiveView() {
  const { baseDir } = useShell();
  const profiles = useLoad(() => call<{ profiles: { name: string }[]; active: string | null }>('GET', 'profiles'), []);
  const [profile, setProfile] = useState('');
  const config = useLoad(() => call<Effective>('GET', `config?explain=1${profile ? `&profile=${encodeURIComponent(profile)}` : ''}`), [profile]);
  const active = profiles.data?.active;
  return html`
    <h2>Effective configuration</h2>
    <div class="toolbar">
      <label for="effective-profile">Profile</label>
      <select id="effective-profile" value=${profile} onChange=${(e: Event) => setProfile((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">${active ? `active (${active})` : 'active (none)'}</option>
        ${profiles.data?.profiles.map((p) => html`<option value=${p.name}>${p.name}</option>`)}
      </select>
    </div>
    <${ErrorNote} error=${config.error} />
    ${config.data && html`
      <div class="scroll" tabindex="0" role="region" aria-label="effective values">
        <table class="values">
          <caption>${config.data.values.length} values${config.data.profile ? ` with profile ${config.data.profile}` : ''}</caption>
          <thead><tr><th scope="col">Path</th><th scope="col">Value</th><th scope="col">Source</th></tr></thead>
          <tbody>${config.data.values.map((v) => html`<tr data-path=${v.path}>
            <th scope="row"><code>${v.path}</code></th><td><code>${show(v.value)}</code></td>
            <td class=${`source ${v.source?.layer ?? ''}`}>${describeSource(v.source, baseDir)}</td></tr>`)}</tbody>
        </table>
      </div>`}`;
}
