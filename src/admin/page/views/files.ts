/** Files and profiles: pick a config file to edit, or a profile to see (and make active). */
import { useState } from 'preact/hooks';
import { call, seg } from '../api.js';
import { ErrorNote, html, show, useAction, useLoad, useShell, when } from '../ui.js';
import { Editor } from './editor.js';

interface ProfileInfo {
  name: string;
  description?: string;
  updatedAt?: string;
}

type Picked = { kind: 'file'; name: string } | { kind: 'profile'; name: string } | undefined;

export function FilesView() {
  const files = useLoad(() => call<{ files: string[] }>('GET', 'files'), []);
  const profiles = useLoad(() => call<{ profiles: ProfileInfo[]; active: string | null }>('GET', 'profiles'), []);
  const [picked, setPicked] = useState<Picked>(undefined);
  const current = picked ?? (files.data?.files[0] === undefined ? undefined : { kind: 'file' as const, name: files.data.files[0] });
  const pick = (p: Picked) => () => setPicked(p);
  const isCurrent = (kind: string, name: string) => current?.kind === kind && current.name === name;
  return html`
    <div class="split">
      <div class="pane">
        <h2 id="files-title">Files</h2>
        <${ErrorNote} error=${files.error} />
        <ul class="picker" aria-labelledby="files-title">
          ${files.data?.files.map((f) => html`<li><button type="button" aria-pressed=${isCurrent('file', f)} onClick=${pick({ kind: 'file', name: f })}>${f}</button></li>`)}
        </ul>
        ${files.data?.files.length === 0 && html`<p>No config files yet.</p>`}
        <h2 id="profiles-title">Profiles</h2>
        <${ErrorNote} error=${profiles.error} />
        <ul class="picker" aria-labelledby="profiles-title">
          ${profiles.data?.profiles.map((p) => html`<li><button type="button" aria-pressed=${isCurrent('profile', p.name)} onClick=${pick({ kind: 'profile', name: p.name })}>
            ${p.name}${p.name === profiles.data?.active ? ' (active)' : ''}</button></li>`)}
        </ul>
        ${profiles.data?.profiles.length === 0 && html`<p>No profiles.</p>`}
      </div>
      <div class="pane wide">
        ${current?.kind === 'file' && html`<${Editor} key=${current.name} file=${current.name} />`}
        ${current?.kind === 'profile' && html`<${Profile} key=${current.name} name=${current.name} active=${profiles.data?.active === current.name} onActivated=${profiles.reload} />`}
      </div>
    </div>`;
}

function Profile({ name, active, onActivated }: { name: string; active: boolean; onActivated(): void }) {
  const { announce } = useShell();
  const profile = useLoad(() => call<{ name: string; data: unknown; extends?: string[] | string; description?: string; updatedAt?: string }>('GET', `profiles/${seg(name)}?resolve=0`), [name]);
  const action = useAction();
  const activate = async () => {
    const done = await action.run(() => call('POST', `profiles/${seg(name)}/activate`));
    if (done !== undefined) {
      announce(`Profile ${name} is now active.`);
      onActivated();
    }
  };
  const p = profile.data;
  return html`
    <section aria-labelledby="profile-title">
      <h3 id="profile-title">Profile ${name}${active ? ' (active)' : ''}</h3>
      <${ErrorNote} error=${profile.error ?? action.error} />
      ${p && html`<dl class="facts">
        ${p.description && html`<dt>Description</dt><dd>${p.description}</dd>`}
        ${p.extends && html`<dt>Extends</dt><dd>${show(p.extends)}</dd>`}
        ${p.updatedAt && html`<dt>Updated</dt><dd>${when(p.updatedAt)}</dd>`}
      </dl>
      <pre class="doc" tabindex="0" aria-label=${`values of profile ${name}`}>${JSON.stringify(p.data, null, 2)}</pre>`}
      ${!active && html`<button type="button" onClick=${activate} disabled=${action.busy}>Make ${name} the active profile</button>`}
    </section>`;
}
