/**
 * Rule: "a crash at any instant leaves the old or the new complete file, never an empty, partial or
 * missing one" and "when a save resolves, the new content survives". Workers saving in a loop are
 * killed with SIGKILL at random instants; after every kill the directory is inspected from outside.
 * The stress suite runs the same loop many more times (test/stress/crash.stress.test.ts).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { runKillLoop } from './kill-loop.js';
import { runModelKillLoop } from './model-kill-loop.js';
import { crashSweep } from './sweep.js';

describe('kill -9 at random instants', () => {
  it('JSON saves: the file always parses and holds the last acknowledged save or a later one', async () => {
    const dir = await tempDir('cp-crash-');
    const report = await runKillLoop({ mode: 'save', dir, rounds: 20, maxDelayMs: 120, clearLocks: true });
    console.log(`crash/save: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(20);
    expect(report.acknowledged).toBeGreaterThan(20);
  }, 120_000);

  it('YAML saves keep a complete file too', async () => {
    const dir = await tempDir('cp-crash-');
    const report = await runKillLoop({ mode: 'yaml', dir, rounds: 8, maxDelayMs: 120, clearLocks: true });
    console.log(`crash/yaml: ${JSON.stringify(report)}`);
    expect(report.acknowledged).toBeGreaterThan(0);
  }, 120_000);

  it('update(): the counter never goes back and never loses an acknowledged increment', async () => {
    const dir = await tempDir('cp-crash-');
    const report = await runKillLoop({ mode: 'update', dir, rounds: 8, maxDelayMs: 120, clearLocks: true });
    console.log(`crash/update: ${JSON.stringify(report)}`);
    expect(report.acknowledged).toBeGreaterThan(0);
  }, 120_000);
});

describe('kill -9 during a mix of saves, deletes, backups, restores, profile changes and snapshots', () => {
  it('every file matches the model; the operation in flight happened entirely or not at all', async () => {
    const work = await tempDir('cp-crash-model-');
    const dir = path.join(work, 'config');
    mkdirSync(dir);
    const report = await runModelKillLoop({ dir, stateFile: path.join(work, 'state.json'), rounds: 15, maxDelayMs: 400 });
    console.log(`crash/mixed: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(15);
    expect(report.acknowledged).toBeGreaterThan(15);
  }, 180_000);
});

describe.runIf(process.platform === 'linux')('kill -9 at every file-system call (strace signal injection)', () => {
  it('a save over an existing file: old or new, verify clean after repair, usable', async () => {
    const work = await tempDir('cp-crash-points-');
    const template = path.join(work, 'template');
    mkdirSync(template);
    const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');
    const cp = new ConfigPersistence({ baseDir: template, schemaDir: path.join(work, 'no-schemas') });
    await cp.saveConfig({ generation: 'first' }, 'current.json');
    await cp.saveConfig({ generation: 'old', pad: 'o'.repeat(3000) }, 'current.json');
    await cp.close();
    const report = await crashSweep({ template, work, spec: { op: 'save', file: 'current.json', data: { generation: 'new' } }, targets: ['current.json'] });
    console.log(`crash/every-call/save: ${JSON.stringify(report)}`);
    expect(report.kills).toBeGreaterThan(20);
  }, 180_000);
});
