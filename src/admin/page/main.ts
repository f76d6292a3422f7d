/** The admin web page (served at `/` by src/admin/page.ts, bundled by scripts/bundle.mjs). */
import { render } from 'preact';
import { html } from './ui.js';
import { App } from './app.js';

render(html`<${App} />`, document.getElementById('app')!);
