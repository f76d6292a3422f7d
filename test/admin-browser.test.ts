/**
 * The admin web page in a real Chromium (Debian's /usr/bin/chromium, driven by playwright-core,
 * offline flags, a fresh profile): the scenarios of issue #23, found the way a keyboard or screen
 * reader user finds things (roles and labels). Screenshots of the main views at 1280×800 are taken
 * on the way; `CP_UPDATE_SCREENSHOTS=1` writes them to docs/screenshots/ for the README.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, pngSize, serveExample, type Served } from './helpers/admin-page.js';
import { CLI, ROOT, runProcess } from './helpers/tmp.js';

let browser: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;
let served: Served;
let page: Page;
let problems: string[];
/** Network failures a browser logs while the server it talks to is closed and started again. */
const SERVER_AWAY = /^console error: Failed to load resource: net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|CONNECTION_CLOSED)$/;
let shots: string;
/** HTTP statuses the scenario expects (Chromium logs each 4xx answer as a console error). */
let expectedStatuses: number[];

beforeAll(async () => {
  browser = await launchChromium();
  context = browser.context;
  // Nothing may leave the machine: any request to another origin fails the test that made it.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:') return route.continue();
    problems.push(`request to another origin: ${url.href}`);
    return route.abort();
  });
  shots = process.env.CP_UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'screenshots') : await mkdtemp(path.join(os.tmpdir(), 'cp-shots-'));
  await mkdir(shots, { recursive: true });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  if (process.env.CP_UPDATE_SCREENSHOTS !== '1' && shots) await rm(shots, { recursive: true, force: true });
});

beforeEach(async () => {
  problems = [];
  expectedStatuses = [409, 422];
  served = await serveExample();
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(m.text());
    if (m.type() === 'error' && !(status && expectedStatuses.includes(Number(status[1])))) problems.push(`console error: ${m.text()}`);
  });
}, 60_000);
afterEach(async () => {
  await page?.close();
  await served?.close();
});

/** Opens the page the way `serve` prints it and waits for the live stream. */
async function open(): Promise<void> {
  await page.goto(served.pageUrl);
  await expect.poll(() => page.getByText('Live: changes show up here').count(), { timeout: 30_000 }).toBe(1);
}

async function view(name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'views' }).getByRole('button', { name }).click();
}

/** A 1280×800 screenshot, small enough for the README. */
async function shoot(name: string): Promise<void> {
  const png = await page.screenshot({ path: path.join(shots, `${name}.png`) });
  expect(pngSize(png)).toEqual({ width: 1280, height: 800 });
  expect(png.length, `${name}.png size`).toBeLessThan(150_000);
}

const T = 120_000;

describe('the admin web page in Chromium', () => {
  it('takes the token from the fragment into sessionStorage, out of the address bar', async () => {
    await open();
    expect(page.url()).toBe(served.server.url);
    expect(await page.evaluate(() => sessionStorage.getItem('config-persistence.token'))).toBe(served.server.token);
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { name: /Edit default\.yaml/ }).count(), { timeout: 30_000 }).toBe(1);
    await shoot('files');
    expect(problems).toEqual([]);
  }, T);

  it('opens the address `serve` prints (the built CLI) and edits through it', async () => {
    const child = spawn(process.execPath, [CLI, '--json', '--dir', served.dir, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const line = out.split('\n').find((l) => l.includes('"url"'));
          if (line) resolve((JSON.parse(line) as { url: string }).url);
        });
        void exited.then((code) => reject(new Error(`serve exited ${code} before listening`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{32,}$/);
      await page.goto(url);
      await expect.poll(() => page.getByText('Live: changes show up here').count(), { timeout: 30_000 }).toBe(1);
      expect(page.url()).toBe(url.slice(0, url.indexOf('#')));
      await page.getByLabel('app.name').fill('shop-from-the-page');
      await page.getByRole('button', { name: 'Save default.yaml' }).click();
      await expect.poll(() => page.getByRole('status').filter({ hasText: /Saved default\.yaml as version \d+/ }).count(), { timeout: 30_000 }).toBe(1);
      expect(((await served.store.loadConfig('default.yaml')) as { app: { name: string } }).app.name).toBe('shop-from-the-page');
      // Checked before the server stops: its end cuts the page's event stream.
      expect(problems).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, T);

  it('restores a backup and shows the safety backup it took first', async () => {
    const backup = await served.store.createBackup('default.yaml', { label: 'before' });
    await served.store.saveConfig({ ...(await served.store.loadConfig('default.yaml')), server: { host: '0.0.0.0', port: 9000 } }, 'default.yaml');
    await open();
    await view('Backups');
    await page.getByRole('button', { name: `Restore ${backup.id}` }).click();
    const note = page.getByRole('region', { name: `Restored ${backup.id}` });
    await expect.poll(() => note.count(), { timeout: 30_000 }).toBe(1);
    const safety = (await served.store.listBackups('default.yaml')).find((b) => b.trigger === 'pre-restore');
    expect(safety, 'the restore took a safety backup').toBeDefined();
    expect(await note.locator('.safety-backup').textContent()).toBe(safety!.id);
    // The list shows it too, marked.
    await expect.poll(() => page.locator('tr.highlight').filter({ hasText: safety!.id }).count(), { timeout: 30_000 }).toBe(1);
    expect(((await served.store.loadConfig('default.yaml')) as { server: { port: number } }).server.port).toBe(8080);
    await shoot('backups');

    // Delete asks once more; "Keep" keeps it.
    await page.getByRole('button', { name: `Delete ${backup.id}` }).click();
    await page.getByRole('button', { name: 'Keep' }).click();
    await page.getByRole('button', { name: `Delete ${backup.id}` }).click();
    await page.getByRole('button', { name: `Confirm deleting ${backup.id}` }).click();
    await expect.poll(() => page.getByRole('button', { name: `Restore ${backup.id}` }).count(), { timeout: 30_000 }).toBe(0);
    expect((await served.store.listBackups()).map((b) => b.id)).not.toContain(backup.id);
    expect(problems).toEqual([]);
  }, T);

  it('imports a bundle with a conflict: preview (skip), choose rename, preview, confirm', async () => {
    const other = new served.lib.ConfigPersistence({ baseDir: await mkdtemp(path.join(os.tmpdir(), 'cp-page-other-')) });
    await other.saveConfig({ app: { name: 'imported' } }, 'default.yaml');
    await other.saveProfile('staging', { logging: { level: 'debug' } });
    const bundle = await other.exportBundle({});
    await other.close();
    await rm(other.baseDir, { recursive: true, force: true });

    await open();
    await view('Import and export');
    await page.getByLabel('Bundle (JSON)').fill(JSON.stringify(bundle));
    await page.getByRole('button', { name: 'Preview the import' }).click();
    const skipped = page.getByRole('list', { name: 'Skipped' });
    await expect.poll(() => skipped.textContent(), { timeout: 30_000 }).toContain('default.yaml (exists)');
    expect(await page.getByRole('list', { name: 'Created' }).textContent()).toContain('profiles/staging.yaml');

    await page.getByLabel('rename the imported one').check();
    await expect.poll(() => page.getByText('preview again').count()).toBe(1);
    await page.getByRole('button', { name: 'Preview the import' }).click();
    const renamed = page.getByRole('list', { name: 'Renamed' });
    await expect.poll(() => renamed.textContent(), { timeout: 30_000 }).toContain('default-2.yaml (was default in the bundle)');
    expect(await served.store.listConfigs(), 'a preview writes nothing').toEqual(['default.yaml']);
    await shoot('import-preview');

    await page.getByRole('button', { name: 'Confirm the import (rename)' }).click();
    await expect.poll(() => page.getByRole('heading', { name: /^Imported: 1 created, 1 renamed/ }).count(), { timeout: 30_000 }).toBe(1);
    expect(await served.store.listConfigs()).toEqual(['default-2.yaml', 'default.yaml']);
    expect(await served.store.loadConfig('default-2.yaml')).toEqual({ app: { name: 'imported' } });
    expect((await served.store.loadConfig('default.yaml') as { app: { name: string } }).app.name).toBe('shop');
    expect(await served.store.profileExists('staging')).toBe(true);
    expect(problems).toEqual([]);
  }, T);

  it('shows a validation error at its field, and a stale If-Match as a conflict to reload', async () => {
    await served.store.saveConfig(await served.store.loadConfig('default.yaml'), 'default.yaml');
    await open();
    const port = page.getByLabel('server.port');
    await port.fill('0');
    await page.getByRole('button', { name: 'Save default.yaml' }).click();
    await expect.poll(() => port.getAttribute('aria-invalid'), { timeout: 30_000 }).toBe('true');
    const errorId = await port.getAttribute('aria-describedby');
    expect(await page.locator(`#${errorId}`).textContent()).toContain('must be >= 1');
    expect(await page.getByRole('alert').first().textContent()).toContain('1 problem: nothing was saved');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-invalid'))).toBe('true');
    expect(await page.getByLabel('server.host').getAttribute('aria-invalid')).toBeNull();
    await page.evaluate(() => window.scrollTo(0, 0));
    await shoot('edit-invalid');
    expect(((await served.store.loadConfig('default.yaml')) as { server: { port: number } }).server.port).toBe(8080);

    // Someone else saves meanwhile: the page's save is refused (409), and Reload shows their value.
    await port.fill('8081');
    const current = (await served.store.loadConfig('default.yaml')) as Record<string, any>;
    await served.store.saveConfig({ ...current, server: { ...current.server, host: 'elsewhere' } }, 'default.yaml');
    await page.getByRole('button', { name: 'Save default.yaml' }).click();
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'was saved by someone else' }).count(), { timeout: 30_000 }).toBe(1);
    expect(((await served.store.loadConfig('default.yaml')) as { server: { port: number } }).server.port).toBe(8080);
    await page.getByRole('alert').getByRole('button', { name: 'Reload default.yaml' }).click();
    await expect.poll(() => page.getByLabel('server.host').inputValue(), { timeout: 30_000 }).toBe('elsewhere');
    expect(await port.inputValue()).toBe('8080');
    await port.fill('8082');
    await page.getByRole('button', { name: 'Save default.yaml' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: /Saved default\.yaml as version \d+/ }).count(), { timeout: 30_000 }).toBe(1);
    expect(((await served.store.loadConfig('default.yaml')) as { server: { port: number } }).server.port).toBe(8082);
    expect(problems).toEqual([]);
  }, T);

  it('never shows a secret, and an edit of another value keeps it', async () => {
    await served.close();
    served = await serveExample({ schema: (s) => void (s.properties.database.properties.password = { type: 'string', 'x-secret': true }) });
    const doc = (await served.store.loadConfig('default.yaml')) as Record<string, any>;
    await served.store.saveConfig({ ...doc, database: { ...doc.database, password: 'hunter2' } }, 'default.yaml');
    await open();
    expect(await page.getByLabel('database.password').inputValue()).toBe('***');
    await page.getByLabel('server.port').fill('8081');
    await page.getByRole('button', { name: 'Save default.yaml' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: /Saved default\.yaml as version \d+/ }).count(), { timeout: 30_000 }).toBe(1);
    const saved = (await served.store.loadConfig('default.yaml')) as { server: { port: number }; database: { password: string } };
    expect(saved.server.port).toBe(8081);
    expect(saved.database.password).toBe('hunter2');
    await view('Effective configuration');
    await expect.poll(() => page.locator('tr[data-path="database.password"]').textContent(), { timeout: 30_000 }).toContain('***');
    expect(await page.content()).not.toContain('hunter2');
    await view('History');
    await expect.poll(() => page.getByRole('button', { name: /^Roll back to version/ }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await page.content()).not.toContain('hunter2');
    expect(problems).toEqual([]);
  }, T);

  it('edits a file as JSON: an issue names its line and selects it; a new key is saved', async () => {
    await open();
    await page.getByRole('group', { name: 'edit as' }).getByRole('button', { name: 'JSON' }).click();
    const area = page.getByLabel('default.yaml as JSON');
    const text = await area.inputValue();
    expect(JSON.parse(text)).toEqual(await served.store.loadConfig('default.yaml'));
    const edited = text.replace('"port": 8080', '"port": 0').replace('"recommendations": true', '"recommendations": true,\n    "darkMode": true');
    await area.fill(edited);
    await page.getByRole('button', { name: 'Save default.yaml' }).click();
    await expect.poll(() => area.getAttribute('aria-invalid'), { timeout: 30_000 }).toBe('true');
    const issues = page.locator(`#${await area.getAttribute('aria-describedby')}`);
    const line = JSON.stringify(JSON.parse(edited), null, 2).split('\n').findIndex((l) => l.includes('"port": 0')) + 1;
    expect(await issues.textContent()).toContain(`line ${line} server.port must be >= 1`);
    await issues.getByRole('button', { name: `line ${line}` }).click();
    expect(await page.evaluate(() => { const el = document.activeElement as HTMLTextAreaElement; return el.value.slice(el.selectionStart, el.selectionEnd); })).toBe('    "port": 0,');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shoot('edit-json');
    await area.fill((await area.inputValue()).replace('"port": 0', '"port": 8081'));
    await page.getByRole('button', { name: 'Save default.yaml' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: /Saved default\.yaml as version \d+/ }).count(), { timeout: 30_000 }).toBe(1);
    const saved = (await served.store.loadConfig('default.yaml')) as { server: { port: number }; features: Record<string, boolean> };
    expect(saved.server.port).toBe(8081);
    expect(saved.features.darkMode).toBe(true);
    // Back to the form: the new key has its field.
    await page.getByRole('group', { name: 'edit as' }).getByRole('button', { name: 'Form' }).click();
    expect(await page.getByLabel('features.darkMode').isChecked()).toBe(true);
    expect(problems).toEqual([]);
  }, T);

  it('shows an edit made with the CLI live, and where every value comes from (file:line, profile, env)', async () => {
    await served.close();
    process.env.SHOP__CACHE__TTL_SECONDS = '60';
    try {
      served = await serveExample({ settings: { envPrefix: 'SHOP' } });
      await open();
      await view('Effective configuration');
      const row = (p: string) => page.locator(`tr[data-path="${p}"]`);
      await expect.poll(() => row('server.port').textContent(), { timeout: 30_000 }).toContain('8080');
      // Named from the store's directory, with line and column.
      expect(await row('server.port').textContent()).toBe('server.port8080default.yaml:11:3');
      expect(await row('cache.ttlSeconds').textContent()).toMatch(/^cache\.ttlSeconds60env SHOP__CACHE__TTL_SECONDS$/);
      const set = await runProcess(process.execPath, [CLI, '--dir', served.dir, 'set', 'server.port', '9191'], { timeoutMs: 60_000 });
      expect(set.code, set.stderr).toBe(0);
      await expect.poll(() => row('server.port').textContent(), { timeout: 30_000 }).toContain('9191');
      expect(await row('server.port').textContent()).toMatch(/current\.yaml:\d+:\d+$/);
      expect(await page.getByRole('status').filter({ hasText: /Configuration changed at [^:]+:[^:]+:.+: server\.port\./ }).count()).toBe(1);
      // Under another profile: its values name it and its file.
      await page.getByLabel('Profile').selectOption('production');
      await expect.poll(() => row('logging.level').textContent(), { timeout: 30_000 }).toMatch(/warnprofile production — .*production\.yaml:\d+:\d+$/);
      expect(await row('server.port').textContent()).toContain('9191');
      await shoot('effective');
      expect(problems).toEqual([]);
    } finally {
      delete process.env.SHOP__CACHE__TTL_SECONDS;
    }
  }, T);

  it('reconnects to the event stream after the server restarts', async () => {
    await open();
    await view('Effective configuration');
    const port = Number(new URL(served.server.url).port);
    await served.server.close();
    await expect.poll(() => page.getByText('Live updates interrupted, reconnecting').count(), { timeout: 30_000 }).toBe(1);
    served.server = await served.admin.createAdminServer({ store: served.store, port, token: served.server.token });
    await expect.poll(() => page.getByText('Live: changes show up here').count(), { timeout: 60_000 }).toBe(1);
    const set = await runProcess(process.execPath, [CLI, '--dir', served.dir, 'set', 'logging.level', 'debug'], { timeoutMs: 60_000 });
    expect(set.code, set.stderr).toBe(0);
    await expect.poll(() => page.locator('tr[data-path="logging.level"]').textContent(), { timeout: 30_000 }).toContain('debug');
    // The stream cut off, the requests in flight reset and the connections refused while the server
    // was down are the point here; page errors and HTTP errors still fail the test.
    expect(problems.filter((p) => !SERVER_AWAY.test(p))).toEqual([]);
  }, T);

  it('asks for the new token when the server comes back with another one', async () => {
    expectedStatuses = [401];
    await open();
    const port = Number(new URL(served.server.url).port);
    await served.server.close();
    served.server = await served.admin.createAdminServer({ store: served.store, port });
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'The server refused the token' }).count(), { timeout: 60_000 }).toBe(1);
    await page.getByLabel('Admin token').fill(served.server.token);
    await page.getByRole('button', { name: 'Open' }).click();
    await expect.poll(() => page.getByText('Live: changes show up here').count(), { timeout: 30_000 }).toBe(1);
    expect(await page.evaluate(() => sessionStorage.getItem('config-persistence.token'))).toBe(served.server.token);
    expect(problems.filter((p) => !SERVER_AWAY.test(p))).toEqual([]);
  }, T);

  it('asks for the token when the one in the address is refused', async () => {
    expectedStatuses = [401];
    await page.goto(`${served.server.url}#token=not-the-token-at-all`);
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'The server refused the token' }).count(), { timeout: 30_000 }).toBe(1);
    await page.getByLabel('Admin token').fill(served.server.token);
    await page.getByRole('button', { name: 'Open' }).click();
    await expect.poll(() => page.getByText('Live: changes show up here').count(), { timeout: 30_000 }).toBe(1);
    expect(problems).toEqual([]);
  }, T);

  it('exports a selection, and verifies and repairs the directory', async () => {
    await open();
    await view('Import and export');
    await page.getByLabel('production').uncheck();
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await expect.poll(() => page.getByLabel('The bundle').inputValue(), { timeout: 30_000 }).toContain('config-persistence-bundle');
    const bundle = JSON.parse(await page.getByLabel('The bundle').inputValue()) as { items: { kind: string; name: string }[] };
    expect(bundle.items.map((i) => `${i.kind}:${i.name}`).sort()).toEqual(['config:default', 'profile:development']);
    expect(await page.getByRole('link', { name: /Download the bundle/ }).getAttribute('download')).toBe('config-bundle.json');

    await writeFile(path.join(served.dir, 'profiles', 'production.yaml'), 'logging: [unclosed\n');
    await view('Verify and repair');
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { name: /^\d+ problems?$/ }).count(), { timeout: 30_000 }).toBe(1);
    expect(await page.getByRole('main').textContent()).toContain('profiles/production.yaml');
    await page.getByRole('button', { name: 'Preview repair' }).click();
    await expect.poll(() => page.getByRole('heading', { name: /^Repair would: \d+ actions/ }).count(), { timeout: 30_000 }).toBe(1);
    expect(problems).toEqual([]);
  }, T);

  it('diffs two versions of a file and rolls back to one', async () => {
    const doc = (await served.store.loadConfig('default.yaml')) as Record<string, any>;
    await served.store.saveConfig(doc, 'default.yaml');
    await served.store.saveConfig({ ...doc, logging: { level: 'debug', format: 'json' } }, 'default.yaml');
    const versions = (await served.store.history('default.yaml')).map((v) => v.version).sort((a, b) => a - b);
    const [older, newer] = [versions[versions.length - 2]!, versions[versions.length - 1]!];
    await open();
    await view('History');
    await page.getByLabel('From').selectOption(String(older));
    await page.getByLabel('To').selectOption(String(newer));
    await page.getByRole('button', { name: 'Show the diff' }).click();
    const diff = page.getByRole('region', { name: `Changes from version ${older} to version ${newer}` });
    await expect.poll(() => diff.textContent(), { timeout: 30_000 }).toContain('logging.level changed: info → debug');
    expect(await diff.textContent()).toContain('logging.format changed: text → json');
    await shoot('history');
    await page.getByRole('button', { name: `Roll back to version ${older}` }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: `Rolled default.yaml back to version ${older}` }).count(), { timeout: 30_000 }).toBe(1);
    expect(((await served.store.loadConfig('default.yaml')) as { logging: { level: string } }).logging.level).toBe('info');
    expect(problems).toEqual([]);
  }, T);

  it('works with the keyboard alone and fits a phone (390 px) without sideways scrolling', async () => {
    await open();
    // Tab from the top: the skip link, then the views; Enter opens one and focus moves to it.
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate(() => document.activeElement?.textContent)) === 'Backups';
    }
    expect(reached, 'Tab reaches the Backups view button').toBe(true);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('heading', { name: 'Backups and snapshots' }).count(), { timeout: 30_000 }).toBe(1);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    expect(await page.evaluate(() => !!document.querySelector('nav') && !!document.querySelector('main'))).toBe(true);

    await page.setViewportSize({ width: 390, height: 844 });
    const loaded: Record<string, string> = {
      'Files and profiles': 'label[for="field-server_2eport"]',
      'Effective configuration': 'tr[data-path="server.port"]',
      History: '#history-file option',
      Backups: 'table caption',
      'Import and export': '#export-config\\:default\\.yaml',
      'Verify and repair': 'button.danger',
    };
    for (const [name, selector] of Object.entries(loaded)) {
      await view(name);
      await page.locator(selector).first().waitFor({ state: 'attached', timeout: 30_000 });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width, `${name} at 390 px`).toBeLessThanOrEqual(390);
    }
    await view('Files and profiles');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(shots, 'phone.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(problems).toEqual([]);
  }, T);
});
