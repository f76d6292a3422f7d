/**
 * The page's shell: header with the directory and the live state, navigation between the views,
 * one polite live region for what happened, and the token form when there is no (valid) token.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { call, useToken } from './api.js';
import { followEvents, type StreamState } from './events.js';
import { forgetToken, keepToken, takeToken } from './token.js';
import { html, ShellContext, type Shell } from './ui.js';
import { BackupsView } from './views/backups.js';
import { BundlesView } from './views/bundles.js';
import { EffectiveView } from './views/effective.js';
import { FilesView } from './views/files.js';
import { HistoryView } from './views/history.js';
import { IntegrityView } from './views/integrity.js';

const VIEWS = {
  files: { label: 'Files and profiles', view: FilesView },
  effective: { label: 'Effective configuration', view: EffectiveView },
  history: { label: 'History', view: HistoryView },
  backups: { label: 'Backups', view: BackupsView },
  bundles: { label: 'Import and export', view: BundlesView },
  integrity: { label: 'Verify and repair', view: IntegrityView },
} as const;

type ViewName = keyof typeof VIEWS;

export function App() {
  const [token, setToken] = useState<string | undefined>(() => takeToken());
  const [wasRefused, setWasRefused] = useState(false);
  const refused = () => {
    forgetToken();
    setWasRefused(true);
    setToken(undefined);
  };
  if (token === undefined) return html`<${TokenForm} refused=${wasRefused} onToken=${(t: string) => { keepToken(t); setToken(t); }} />`;
  useToken(token, refused);
  return html`<${Admin} key=${token} />`;
}

function Admin() {
  const [view, setView] = useState<ViewName>('files');
  const [revision, setRevision] = useState(0);
  const [stream, setStream] = useState<StreamState>('connecting');
  const [message, setMessage] = useState('');
  const [lastChange, setLastChange] = useState('');
  const [baseDir, setBaseDir] = useState('');
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    call<{ baseDir: string }>('GET', 'status').then((s) => setBaseDir(s.baseDir), () => undefined);
    return followEvents((e) => {
      setRevision((r) => r + 1);
      const paths = e.changes.map((c) => c.path);
      setLastChange(`Configuration changed at ${new Date(e.at).toLocaleTimeString()}: ${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ` and ${paths.length - 5} more` : ''}.`);
    }, setStream);
  }, []);
  const shell: Shell = useMemo(() => ({ revision, announce: setMessage, baseDir }), [revision, baseDir]);
  const go = (name: ViewName) => {
    setView(name);
    setMessage('');
    main.current?.focus();
  };
  const View = VIEWS[view].view;
  return html`
    <${ShellContext.Provider} value=${shell}>
      <a class="skip" href="#main">Skip to the content</a>
      <header class="top">
        <h1>config-persistence <span class="muted">${baseDir}</span></h1>
        <p class=${`stream ${stream}`} role="status">${stream === 'live' ? 'Live: changes show up here as they happen' : stream === 'connecting' ? 'Connecting to live updates…' : 'Live updates interrupted, reconnecting…'}
          ${lastChange && html`<br /><span class="change">${lastChange}</span>`}</p>
      </header>
      <nav aria-label="views">
        <ul>${(Object.keys(VIEWS) as ViewName[]).map((name) => html`<li><button type="button" aria-current=${view === name ? 'page' : undefined} onClick=${() => go(name)}>${VIEWS[name].label}</button></li>`)}</ul>
      </nav>
      <p class="status" role="status">${message}</p>
      <main id="main" ref=${main} tabindex="-1"><${View} /></main>
    <//>`;
}

function TokenForm({ refused, onToken }: { refused: boolean; onToken(token: string): void }) {
  const [value, setValue] = useState('');
  return html`
    <main id="main" class="token">
      <h1>config-persistence admin</h1>
      ${refused && html`<p class="error" role="alert">The server refused the token (each start of <code>serve</code> makes a new one).</p>`}
      <p>Open this page with the address <code>serve</code> printed (it carries the token after <code>#token=</code>), or paste the token from <code>&lt;dir&gt;/.admin-token</code>.</p>
      <form onSubmit=${(e: Event) => { e.preventDefault(); if (value.trim()) onToken(value.trim()); }}>
        <label for="token">Admin token</label>
        <input id="token" type="password" autocomplete="off" value=${value} onInput=${(e: Event) => setValue((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Open</button>
      </form>
    </main>`;
}
