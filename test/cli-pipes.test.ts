/**
 * The command line in a pipeline whose reader stops early (`| head -2`): the command ends quietly
 * with exit 0 — no "Unhandled 'error' event", no stack. Also how a failure nobody caught is
 * reported: one line with its code and hint, the stack (mapped to src/*.ts) only with --debug.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli, workspace } from './helpers/cli.js';
import { DIST, runNode, runProcess } from './helpers/tmp.js';

/** Runs the CLI with its stdout closed by the reader before anything is written (EPIPE on the first write). */
function closedStdout(cwd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** A workspace whose current.json has `versions` saves: that many history versions and backups. */
async function busyWorkspace(versions: number): Promise<string> {
  const ws = await workspace({ schemas: false });
  const run = await runNode(
    `const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
     const store = new ConfigPersistence({ baseDir: 'config', maxBackups: 1000, durable: false });
     for (let i = 0; i < ${versions}; i++) await store.saveConfig({ n: i }, 'current.json', { reason: 'step ' + i });
     await store.close();`,
    { cwd: ws },
  );
  expect(run.stderr).toBe('');
  return ws;
}

describe('CLI: a reader that stops early', () => {
  it('--help, backup list and history end quietly with exit 0 when stdout is closed', async () => {
    const ws = await busyWorkspace(40);
    for (const args of [['--help'], ['backup', 'list'], ['history', 'current'], ['--json', 'history', 'current'], ['status']]) {
      const run = await closedStdout(ws, args);
      expect({ args, ...run }).toEqual({ args, code: 0, stderr: '' });
    }
  });

  it('in a real shell pipeline into head -2: two lines, exit 0 from the command, nothing on stderr', async () => {
    const ws = await busyWorkspace(600);
    for (const command of ['--help', 'backup list', 'history current']) {
      const script = `set -o pipefail; node ${JSON.stringify(BIN)} ${command} | head -2`;
      const run = await runProcess('bash', ['-c', script], { cwd: ws, env: { NO_COLOR: '1' } });
      expect({ command, code: run.code, stderr: run.stderr }).toEqual({ command, code: 0, stderr: '' });
      expect(run.stdout.split('\n')).toHaveLength(3); // two lines and the final newline
    }
  });

  it('watch ends (exit 0) when nobody reads its output any more', async () => {
    const ws = await workspace({ schemas: false });
    await writeFile(path.join(ws, 'config', 'current.json'), '{"n": 0}\n');
    const child = spawn(process.execPath, [BIN, '--json', 'watch', 'current.json'], { cwd: ws, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    child.stdout.destroy();
    const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Changes keep coming; the first line written into the closed pipe ends the watch.
    for (let i = 1; i <= 20 && child.exitCode === null; i++) {
      await writeFile(path.join(ws, 'config', 'current.json'), `{"n": ${i}}\n`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    expect(await ended).toBe(0);
    clearTimeout(timer);
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
  });
});

describe('CLI: failures', () => {
  it('a library error is one line with its code and a hint; the stack only with --debug or DEBUG, pointing at src/*.ts', async () => {
    const ws = await workspace();
    const plain = await cli(ws, ['get', 'no.such.key']);
    expect(plain.code).toBe(1);
    expect(plain.stderr.split('\n').filter(Boolean)).toHaveLength(2);
    expect(plain.stderr).toMatch(/^E_NOT_FOUND: .*\nhint: /);
    for (const run of [await cli(ws, ['--debug', 'get', 'no.such.key']), await cli(ws, ['get', 'no.such.key'], { env: { DEBUG: '1' } })]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^E_NOT_FOUND: /);
      expect(run.stderr).toMatch(/\n\s+at .*src\/[\w/-]+\.ts:\d+:\d+/);
      expect(run.stderr).not.toMatch(/chunks\/chunk-/);
    }
    expect((await cli(ws, ['get', 'no.such.key'], { env: { DEBUG: '0' } })).stderr).not.toMatch(/\n\s+at /);
  });

  it('an error no command caught (here: thrown from a timer while watch runs) is one E_INTERNAL line and a hint, exit 1', async () => {
    const ws = await workspace({ schemas: false });
    await writeFile(path.join(ws, 'config', 'current.json'), '{"n": 0}\n');
    const boom = `data:text/javascript,setTimeout(() => { throw new Error('boom from a timer'); }, 1500);`;
    for (const debug of [false, true]) {
      const run = await runProcess(process.execPath, ['--import', boom, BIN, ...(debug ? ['--debug'] : []), 'watch', 'current.json'], { cwd: ws, timeoutMs: 20_000 });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^watching .*\nE_INTERNAL: boom from a timer\nhint: this is a bug in config-persistence/);
      if (debug) expect(run.stderr).toMatch(/\n\s+at /);
      else expect(run.stderr.trimEnd().split('\n')).toHaveLength(3);
    }
  });

  it('no line of stderr is minified source: every message stays short', async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'config', 'current.yaml'), 'a: [1, 2\n');
    for (const args of [['status'], ['get', 'a'], ['validate'], ['verify']]) {
      const run = await cli(ws, args);
      for (const line of run.stderr.split('\n')) expect(line.length, `${args.join(' ')}: ${line.slice(0, 200)}`).toBeLessThan(400);
    }
  });
});
