/**
 * The web page at `/`: an HTML shell and two assets, `/assets/app.js` and `/assets/app.css`. The
 * build (scripts/bundle.mjs) bundles the page's code (src/admin/page/, preact + htm) for the browser
 * and inlines it as ./page-bundle.ts, so the page ships inside the package's own JavaScript:
 * no file to locate at run time, nothing fetched from elsewhere. The server imports this module on
 * the first request for the page. None of it holds data, so none of it needs the token; the page
 * reads the token from the URL's fragment and sends it with every `/api/` call.
 */
import type { Context as HonoContext } from 'hono';
import { ConfigPersistenceError } from '../errors.js';
import { PAGE } from './page-bundle.js';

/** The page's assets with their content types. */
interface PageAssets {
  'app.js': { type: string; body: string };
  'app.css': { type: string; body: string };
}

let built: PageAssets | undefined;

/** The built page, or `E_NOT_FOUND` telling how to build it (the sources alone have no bundle). */
function pageAssets(): PageAssets {
  if (built !== undefined) return built;
  const page = PAGE;
  if (page === undefined) throw new ConfigPersistenceError('E_NOT_FOUND', 'the admin web page is not built into this copy: run `npm run build` and use dist/admin.js (the API works without it)');
  built = {
    'app.js': { type: 'text/javascript; charset=utf-8', body: page.js },
    'app.css': { type: 'text/css; charset=utf-8', body: page.css },
  };
  return built;
}

/** The HTML shell: no inline script or style (the CSP forbids both), an empty icon so no request 404s. */
const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>config-persistence admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<div id="app"><noscript>This page needs JavaScript. The HTTP API is under /api/v1/.</noscript></div>
</body>
</html>
`;

/**
 * The answer to `GET /` (`name` = `index`) or `GET /assets/<name>`: the shell or an asset with its
 * content type; the security headers (CSP without inline code) are the server's, on every answer.
 */
export function answer(c: HonoContext, name: string): Response {
  const assets = pageAssets();
  if (name === 'index') return c.html(SHELL);
  if (name !== 'app.js' && name !== 'app.css') throw new ConfigPersistenceError('E_NOT_FOUND', `no such asset: ${name}`);
  return c.body(assets[name].body, 200, { 'Content-Type': assets[name].type });
}
