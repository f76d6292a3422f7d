import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN } from './helpers/cli.js';
import { request } from './helpers/admin-http.js';

/** Starts `serve --json --port 0` and resolves with its announced URL once it listens. */
function start(cwd: string): Promise<{ child: ReturnType<typeof spawn>; url: string; tokenFile: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, '--json', '--dir', 'cfg', 'serve', '--port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.includes('"url"'));
      if (line) resolve({ child, exited, ...(JSON.parse(line) as { url: string; tokenFile: string }) });
    });
    void exited.then((code) => reject(new Error(`serve exited ${code} before listening: ${err}`)));
  });
}

describe('config-persistence serve', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`prints the URL with the token in the fragment, serves, and exits 0 on ${signal}`, async () => {
      const ws = await mkdtemp(path.join(tmpdir(), 'cp-serve-'));
      try {
        const { child, url, tokenFile, exited } = await start(ws);
        const u = new URL(url);
        expect(u.hostname).toBe('127.0.0.1');
        const token = new URLSearchParams(u.hash.slice(1)).get('token')!;
        expect(token.length).toBeGreaterThanOrEqual(32);
        expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
        const r = await request(url, 'GET', '/api/v1/status', { token });
        expect(r.status, r.text).toBe(200);
        expect((await request(url, 'GET', '/api/v1/status')).status).toBe(401);
        child.kill(signal);
        expect(await exited).toBe(0);
        await expect(stat(tokenFile)).rejects.toMatchObject({ code: 'ENOENT' });
      } finally {
        await rm(ws, { recursive: true, force: true });
      }
    }, 60000);
  }
  it('a bad --port is a usage error', async () => {
    const ws = await mkdtemp(path.join(tmpdir(), 'cp-serve-'));
    const child = spawn(process.execPath, [BIN, '--dir', 'cfg', 'serve', '--port', 'abc'], { cwd: ws, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    await rm(ws, { recursive: true, force: true });
  }, 60000);
});
