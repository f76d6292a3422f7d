/**
 * The package as a consumer installs it: CommonJS and ESM applications load the built entries
 * through the package name (a symlinked node_modules entry, as `npm link` makes), and the packed
 * file list carries each line of code once (no second module tree beside the bundles).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runProcess, tempDir } from './helpers/tmp.js';

/** A consumer project whose node_modules/config-persistence is this checkout. */
async function consumer(): Promise<string> {
  const dir = await tempDir('cp-consumer-');
  await mkdir(path.join(dir, 'node_modules'), { recursive: true });
  await symlink(ROOT, path.join(dir, 'node_modules', 'config-persistence'), 'dir');
  return dir;
}

const roundTrip = `
  const store = new ConfigPersistence({ baseDir: 'config', storage: new LocalStorage(require('node:path').resolve('config')) });
  const saved = await store.saveConfig({ server: { port: 8080 } }, 'current.json');
  const loaded = await store.loadConfig('current.json');
  await store.close();
  const config = await Configuration.open({ baseDir: 'config' });
  process.stdout.write(JSON.stringify({ version: saved.version, port: loaded.server.port, effective: config.get('server.port') }));
  await config.close();
`;

describe('the package from a consumer', () => {
  it('loads with require() from a CommonJS application (root and storage subpath)', async () => {
    const dir = await consumer();
    await writeFile(
      path.join(dir, 'app.cjs'),
      `const { ConfigPersistence, Configuration, ConfigPersistenceError } = require('config-persistence');
       const { LocalStorage } = require('config-persistence/storage');
       if (typeof ConfigPersistenceError !== 'function') throw new Error('errors are not exported');
       (async () => {${roundTrip}})().catch((err) => { console.error(err); process.exit(1); });`,
    );
    const run = await runProcess(process.execPath, ['app.cjs'], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ version: 1, port: 8080, effective: 8080 });
  });

  it('loads with import from an ES module application', async () => {
    const dir = await consumer();
    await writeFile(
      path.join(dir, 'app.mjs'),
      `import { createRequire } from 'node:module';
       import { ConfigPersistence, Configuration } from 'config-persistence';
       import { LocalStorage } from 'config-persistence/storage';
       const require = createRequire(import.meta.url);
       ${roundTrip}`,
    );
    const run = await runProcess(process.execPath, ['app.mjs'], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ version: 1, port: 8080, effective: 8080 });
  });

  it('the same class comes out of require() and import (one module instance, not a copy)', async () => {
    const dir = await consumer();
    await writeFile(
      path.join(dir, 'both.mjs'),
      `import { createRequire } from 'node:module';
       import * as esm from 'config-persistence';
       import * as storage from 'config-persistence/storage';
       const require = createRequire(import.meta.url);
       const cjs = require('config-persistence');
       process.stdout.write(JSON.stringify([cjs.ConfigPersistence === esm.ConfigPersistence, require('config-persistence/storage').LocalStorage === storage.LocalStorage, typeof storage.LocalStorage === 'function' && !('LocalStorage' in esm)]));`,
    );
    const run = await runProcess(process.execPath, ['both.mjs'], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual([true, true, true]);
  });
});

describe('the packed package', () => {
  it('ships each module once: the five entries and their shared chunks, with maps and declarations', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    const code = files.filter((f) => f.endsWith('.js')).sort();
    const entries = ['dist/admin.js', 'dist/cli.js', 'dist/etcd.js', 'dist/index.js', 'dist/storage/index.js'];
    expect(code.filter((f) => !f.startsWith('dist/chunks/'))).toEqual(entries);
    for (const f of code) expect(files, `${f} has its source map`).toContain(`${f}.map`);
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/storage/index.d.ts');
    expect(files).toContain('dist/admin/index.d.ts');
    // The CLI's internals are no API: their declarations stay out of the package.
    expect(files.filter((f) => f.startsWith('dist/cli/'))).toEqual([]);
  });

  it('the source maps point at src/ and carry no source text (the code ships once)', async () => {
    const { readFile, readdir } = await import('node:fs/promises');
    const chunks = (await readdir(path.join(ROOT, 'dist', 'chunks'))).filter((f) => f.endsWith('.js.map'));
    for (const map of chunks) {
      const parsed = JSON.parse(await readFile(path.join(ROOT, 'dist', 'chunks', map), 'utf8')) as { sources: string[]; sourcesContent?: unknown };
      expect(parsed.sourcesContent, map).toBeUndefined();
      for (const source of parsed.sources) expect(source, map).toMatch(/^\.\.\/\.\.\/(src|node_modules)\//);
    }
  });
});
