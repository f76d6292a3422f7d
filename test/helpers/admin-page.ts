/**
 * The admin web page under test: a server started from the BUILD (dist/admin.js), because the page's
 * bundle exists only there (scripts/bundle.mjs inlines it), over a copy of the bundled example
 * directory with its schema; and a Chromium driven by playwright-core, kept offline.
 */
import { access, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { ROOT } from './tmp.js';

type Lib = typeof import('../../src/index.js');
type Admin = typeof import('../../src/admin/index.js');

/** The built library and admin entries (one module instance: the store and the server must share it). */
export async function built(): Promise<{ lib: Lib; admin: Admin }> {
  const lib = (await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href)) as Lib;
  const admin = (await import(pathToFileURL(path.join(ROOT, 'dist', 'admin.js')).href)) as Admin;
  return { lib, admin };
}

/** A served copy of `config/` (the shop example) with `schemas/config.schema.json` as its schema. */
export interface Served {
  dir: string;
  store: InstanceType<Lib['ConfigPersistence']>;
  /** The running server (a test may restart it). */
  server: Awaited<ReturnType<Admin['createAdminServer']>>;
  lib: Lib;
  admin: Admin;
  /** The address `serve` prints: the page with the token in the fragment. */
  readonly pageUrl: string;
  close(): Promise<void>;
}

/**
 * Serves a fresh copy; `settings` become its `config-persistence.json` (directory settings),
 * `schema` changes the example's schema before it is used.
 */
export async function serveExample(opts: { settings?: object; schema?: (schema: any) => void } = {}): Promise<Served> {
  const { lib, admin } = await built();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cp-page-'));
  await cp(path.join(ROOT, 'config'), dir, { recursive: true });
  if (opts.settings) await writeFile(path.join(dir, 'config-persistence.json'), JSON.stringify(opts.settings));
  const schema = JSON.parse(await readFile(path.join(ROOT, 'schemas', 'config.schema.json'), 'utf8')) as object;
  opts.schema?.(schema);
  const store = new lib.ConfigPersistence({ baseDir: dir, schema });
  const server = await admin.createAdminServer({ store, port: 0 });
  const served: Served = {
    dir,
    store,
    server,
    lib,
    admin,
    get pageUrl() {
      return `${served.server.url}#token=${served.server.token}`;
    },
    close: async () => {
      await served.server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return served;
}

/** Debian's Chromium package: the browser tests need it and fail (never skip) without it. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags that keep Chromium from reaching any network address of its own accord. */
const OFFLINE_FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A headless Chromium with a fresh profile directory (`--user-data-dir`), 1280×800. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  try {
    await access(CHROMIUM);
  } catch {
    throw new Error(`the browser tests need Chromium at ${CHROMIUM} (Debian: apt-get install chromium); it is missing`);
  }
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(path.join(os.tmpdir(), 'cp-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: OFFLINE_FLAGS,
    viewport: { width: 1280, height: 800 },
    timeout: 120_000,
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Width and height of a PNG, from its IHDR chunk. */
export function pngSize(png: Buffer): { width: number; height: number } {
  if (png.subarray(1, 4).toString('latin1') !== 'PNG') throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
