/**
 * `config-persistence types`: a declaration of the directory's schema that tsc accepts for
 * documents the schema allows and rejects for unknown keys and wrong types (@ts-expect-error
 * lines make the consumer file fail to compile if they stop being errors); and, without the
 * optional peer json-schema-to-typescript, a clear E_UNSUPPORTED while every other command works.
 */
import { cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, runProcess, tempDir } from './helpers/tmp.js';

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

async function example(): Promise<string> {
  const dir = await tempDir('cp-types-');
  await cp(path.join(ROOT, 'config'), path.join(dir, 'config'), { recursive: true });
  await cp(path.join(ROOT, 'schemas'), path.join(dir, 'schemas'), { recursive: true });
  return dir;
}

describe('config-persistence types', () => {
  it('writes a declaration that types a Configuration and rejects unknown paths at compile time', async () => {
    const dir = await example();
    const made = await runProcess(process.execPath, [CLI, 'types', '--out', 'config.d.ts'], { cwd: dir });
    expect(made.code, made.stderr).toBe(0);
    const declaration = await readFile(path.join(dir, 'config.d.ts'), 'utf8');
    expect(declaration).toMatch(/export interface Config \{/);
    await mkdir(path.join(dir, 'node_modules'));
    await symlink(ROOT, path.join(dir, 'node_modules', 'config-persistence'), 'dir');
    await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(
      path.join(dir, 'consumer.ts'),
      [
        "import { Configuration } from 'config-persistence';",
        "import type { Config } from './config.js';",
        "const config = await Configuration.open<Config>({ baseDir: 'config' });",
        'const port: number | undefined = config.data.server?.port;',
        "const ok: Config = { server: { port: 8080 }, logging: { level: 'debug' } };",
        '// @ts-expect-error a typo in a path is a compile error',
        'const typo = config.data.server?.prot;',
        '// @ts-expect-error an unknown key',
        'const extra: Config = { server: { prot: 1 } };',
        '// @ts-expect-error a value outside the enum',
        "const level: Config = { logging: { level: 'loud' } };",
        'export { port, ok, typo, extra, level };',
      ].join('\n'),
    );
    const tsc = await runProcess(process.execPath, [TSC, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', 'consumer.ts'], { cwd: dir });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
  }, 120_000);

  it('prints to stdout, takes --name, and refuses a directory without a schema', async () => {
    const dir = await example();
    const out = await runProcess(process.execPath, [CLI, 'types', '--name', 'Shop'], { cwd: dir });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/export interface Shop \{/);
    const none = await runProcess(process.execPath, [CLI, '--schema-dir', 'nowhere', 'types'], { cwd: dir });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/E_NOT_FOUND.*no schema/);
  });

  it('without json-schema-to-typescript: E_UNSUPPORTED naming the package, other commands unaffected', async () => {
    const dir = await example();
    // A copy of the package whose node_modules lacks the optional peer.
    const pkg = path.join(dir, 'pkg');
    await cp(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    await cp(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    await mkdir(path.join(pkg, 'node_modules'));
    for (const entry of await readdir(path.join(ROOT, 'node_modules'))) {
      if (entry === 'json-schema-to-typescript') continue;
      await symlink(path.join(ROOT, 'node_modules', entry), path.join(pkg, 'node_modules', entry));
    }
    await symlink(pkg, path.join(pkg, 'node_modules', 'config-persistence'), 'dir');
    const cli = path.join(pkg, 'dist', 'cli.js');
    const types = await runProcess(process.execPath, [cli, 'types'], { cwd: dir });
    expect(types.code).toBe(1);
    expect(types.stderr).toMatch(/E_UNSUPPORTED.*"json-schema-to-typescript".*npm install/s);
    const status = await runProcess(process.execPath, [cli, 'get', 'server.port'], { cwd: dir });
    expect(status.code, status.stderr).toBe(0);
  }, 60_000);
});
