/**
 * Parity with node-config and conf (issue #25): NODE_ENV choosing the profile when nothing else did
 * (CONFIG_PROFILE and the persisted choice still first), and onDidChange(path, (new, old) => …).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Configuration } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

async function layered(): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  await writeFile(path.join(dir, 'default.yaml'), 'server:\n  host: 127.0.0.1\n  port: 8080\nlogging:\n  level: info\n');
  await writeFile(path.join(dir, 'profiles/production.yaml'), 'logging:\n  level: warn\n');
  await writeFile(path.join(dir, 'profiles/staging.yaml'), 'logging:\n  level: debug\n');
  return dir;
}

const open = (dir: string, env: Record<string, string>) => Configuration.open({ baseDir: dir, schemaDir: dir, env });

describe('NODE_ENV', () => {
  it('chooses the profile of that name when nothing else chose one', async () => {
    const dir = await layered();
    const config = await open(dir, { NODE_ENV: 'production' });
    expect(config.activeProfile).toBe('production');
    expect(config.activeProfileSource).toBe('nodeEnv');
    expect(config.get('logging.level')).toBe('warn');
    expect(config.explain('logging.level').source?.file).toContain('production.yaml');
    const sync = Configuration.openSync({ baseDir: dir, schemaDir: dir, env: { NODE_ENV: 'production' } });
    expect(sync.get('logging.level')).toBe('warn');
  });

  it('yields to CONFIG_PROFILE and to the persisted choice', async () => {
    const dir = await layered();
    expect((await open(dir, { NODE_ENV: 'production', CONFIG_PROFILE: 'staging' })).get('logging.level')).toBe('debug');
    const chooser = await open(dir, {});
    await chooser.useProfile('staging');
    await chooser.close();
    const config = await open(dir, { NODE_ENV: 'production' });
    expect(config.activeProfile).toBe('staging');
    expect(config.activeProfileSource).toBe('persisted');
  });

  it('is ignored when no such profile exists (NODE_ENV=test with no profiles/test.*)', async () => {
    const dir = await layered();
    const config = await open(dir, { NODE_ENV: 'test' });
    expect(config.activeProfile).toBeUndefined();
    expect(config.get('logging.level')).toBe('info');
  });
});

describe('onDidChange', () => {
  it('fires once per change set with (new, old) and stops after unsubscribe', async () => {
    const dir = await layered();
    const config = await open(dir, {});
    const seen: Array<[unknown, unknown]> = [];
    const stop = config.onDidChange('server', (now, before) => seen.push([now, before]));
    const ports: Array<[unknown, unknown]> = [];
    config.onDidChange<number>('server.port', (now, before) => ports.push([now, before]));
    config.set('server', { host: '0.0.0.0', port: 9000 });
    expect(seen).toEqual([[{ host: '0.0.0.0', port: 9000 }, { host: '127.0.0.1', port: 8080 }]]);
    config.set('logging.level', 'warn'); // another path: no call
    config.set('server.port', 9000); // same value: no change
    expect(seen).toHaveLength(1);
    stop();
    config.set('server.port', 9001);
    expect(seen).toHaveLength(1);
    expect(ports).toEqual([[9000, 8080], [9001, 9000]]);
    await config.useProfile('production');
    expect(ports).toHaveLength(2);
  });

  it('fires on a profile switch that changes the value', async () => {
    const dir = await layered();
    const config = await open(dir, {});
    const levels: unknown[] = [];
    config.onDidChange('logging.level', (now, before) => levels.push(`${String(before)}->${String(now)}`));
    await config.useProfile('staging');
    expect(levels).toEqual(['info->debug']);
  });
});

describe('host and local files', () => {
  it('layers <hostname>.* then local.* over the profile and under current.*, and explains them', async () => {
    const os = await import('node:os');
    const host = os.hostname().split('.')[0]!.toLowerCase();
    const dir = await layered();
    await writeFile(path.join(dir, `${host}.yaml`), 'server:\n  host: 10.1.1.1\n  port: 8181\n');
    await writeFile(path.join(dir, 'local.json'), '{ "server": { "port": 8282 } }\n');
    await writeFile(path.join(dir, 'current.yaml'), 'logging:\n  level: error\n');
    const config = await open(dir, { NODE_ENV: 'production' });
    expect(config.data).toEqual({ server: { host: '10.1.1.1', port: 8282 }, logging: { level: 'error' } });
    expect(config.explain('server.host').source).toMatchObject({ layer: 'host', file: path.join(dir, `${host}.yaml`), line: 2 });
    expect(config.explain('server.port').source).toMatchObject({ layer: 'local' });
    expect(config.sources.map((s) => s.layer)).toEqual(['default', 'profile', 'host', 'local', 'current']);
    const sync = Configuration.openSync({ baseDir: dir, schemaDir: dir, env: {} });
    expect(sync.get('server.port')).toBe(8282);
    config.set('server.port', 1);
    await config.save();
    expect((await open(dir, {})).get('server.port')).toBe(1); // saved into current.*, over local
  });
});
