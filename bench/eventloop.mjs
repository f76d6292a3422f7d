/**
 * Event-loop blocking during saves: the longest stall (perf_hooks.monitorEventLoopDelay, 1 ms
 * resolution) while 200 saves run one after another. conf writes synchronously, so each of its
 * writes (fsync included) stops everything else the process does; config-persistence keeps the
 * file system work off the loop and spends only encode/hash time on it. An idle loop over the same
 * time is the noise floor.
 *
 * Two things are reported beside the steady state, so a stall is never hidden nor misread:
 * - the first save in a fresh process, alone: it pays one-time costs (yaml's Document API for a
 *   YAML save, compiling the schema — or reading the validator cache), which the warm-up hides
 *   from the 200-save rows;
 * - the longest garbage-collection pause inside each measured window (PerformanceObserver 'gc'):
 *   when the longest stall is close to it, or to the idle row, the stall is the collector or the
 *   machine (a 2-core box shared with other jobs), not a long task of ours.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Conf from 'conf';
import { DIST, floorWrite, makeConfig, median, monitorStalls, now, progress, round, STALL_RESOLUTION_MS, timeProcess } from './lib.mjs';

export const description = 'longest event-loop stall during 200 sequential saves';

const RESOLUTION_MS = STALL_RESOLUTION_MS;
const tick = () => new Promise((resolve) => setImmediate(resolve));
const monitored = monitorStalls;

/** A schema the generated configs satisfy, with the formats and limits a real one has. */
const SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['app', 'server'],
  properties: {
    app: { type: 'object', properties: { name: { type: 'string', minLength: 1 }, version: { type: 'string' }, debug: { type: 'boolean' }, revision: { type: 'integer' } } },
    server: {
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 }, timeoutMs: { type: 'integer', minimum: 0 }, cors: { type: 'array', items: { type: 'string', format: 'uri' } } },
    },
    database: { type: 'object', properties: { host: { type: 'string' }, port: { type: 'integer' }, pool: { type: 'object', properties: { min: { type: 'integer' }, max: { type: 'integer' } } } } },
    features: { type: 'object', additionalProperties: { type: 'boolean' } },
    services: {
      type: 'array',
      items: { type: 'object', required: ['name', 'url'], properties: { name: { type: 'string' }, url: { type: 'string', format: 'uri' }, retries: { type: 'integer', minimum: 0 } } },
    },
  },
};

/** The script of one fresh process: import, then the first save of a new store, alone under the monitor. */
function firstSaveScript() {
  return `import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdir } from 'node:fs/promises';
const [file, dir, schema] = process.argv.slice(2);
const { ConfigPersistence } = await import(${JSON.stringify(pathToFileURL(DIST).href)});
const { makeConfig } = await import(${JSON.stringify(pathToFileURL(path.join(path.dirname(DIST), '..', 'bench', 'lib.mjs')).href)});
await mkdir(dir, { recursive: true });
const cp = new ConfigPersistence({ baseDir: dir, ...(schema ? { schema } : {}) });
const data = makeConfig(2048);
await new Promise((resolve) => setTimeout(resolve, 5));
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
const t0 = performance.now();
await cp.saveConfig(data, file);
const ms = performance.now() - t0;
await new Promise((resolve) => setTimeout(resolve, 3));
h.disable();
await cp.close();
process.stdout.write(JSON.stringify({ max: Math.max(0, h.max / 1e6 - 1), ms }));
`;
}

/** First saves in fresh processes: one-time costs, measured apart from the steady state. */
async function firstSaves({ quick, rounds, workDir }) {
  const script = path.join(workDir, 'first-save.mjs');
  await writeFile(script, firstSaveScript());
  const schemaFile = path.join(workDir, 'schemas', 'bench.schema.json');
  await mkdir(path.dirname(schemaFile), { recursive: true });
  await writeFile(schemaFile, JSON.stringify(SCHEMA));
  const cacheDir = path.join(workDir, 'validator-cache');
  const base = { ...process.env };
  delete base.NODE_OPTIONS;
  delete base.NODE_DEBUG;
  const cases = [
    { label: 'config-persistence first save in a fresh process, 2 KB JSON, no schema', file: 'settings.json', env: { CONFIG_PERSISTENCE_CACHE_DIR: 'off' } },
    { label: 'config-persistence first save in a fresh process, 2 KB YAML, no schema (loads yaml)', file: 'settings.yaml', env: { CONFIG_PERSISTENCE_CACHE_DIR: 'off' } },
    { label: 'config-persistence first save in a fresh process, JSON + schema, validator cache off (ajv compiles)', file: 'settings.json', schema: schemaFile, env: { CONFIG_PERSISTENCE_CACHE_DIR: 'off' } },
    { label: 'config-persistence first save in a fresh process, JSON + schema, validator cache warm', file: 'settings.json', schema: schemaFile, env: { CONFIG_PERSISTENCE_CACHE_DIR: cacheDir } },
  ];
  const runs = (quick ? 1 : 2) * rounds;
  const maxes = cases.map(() => []);
  const times = cases.map(() => []);
  let n = 0;
  const once = async (c) => {
    const dir = path.join(workDir, 'first', String(n++));
    const { stdout } = await timeProcess([script, c.file, dir, c.schema ?? ''], { cwd: workDir, env: { ...base, ...c.env } });
    return JSON.parse(stdout);
  };
  await once(cases[3]); // fills the validator cache, as an application's first start would
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < cases.length; k++) {
      const i = (k + r) % cases.length;
      const out = await once(cases[i]);
      maxes[i].push(out.max);
      times[i].push(out.ms);
    }
  }
  return cases.map((c, i) => ({ label: c.label, max_ms: round(median(maxes[i]), 2), note: `the save took ${median(times[i]).toFixed(1)} ms; median of ${runs} fresh processes` }));
}

export async function run({ quick, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  let saves = quick ? 20 : 200;
  const base = makeConfig(2048);
  let revision = 0;
  const next = () => ({ ...base, app: { ...base.app, revision: ++revision } });
  const dirOf = async (name) => {
    const d = path.join(workDir, name);
    await mkdir(d, { recursive: true });
    return d;
  };
  const floorFile = path.join(await dirOf('floor'), 'settings.json');
  const cpJson = new ConfigPersistence({ baseDir: await dirOf('cp-json') });
  const cpYaml = new ConfigPersistence({ baseDir: await dirOf('cp-yaml') });
  const conf = new Conf({ cwd: await dirOf('conf'), configName: 'settings', projectName: 'bench' });
  let idleFor = 50;

  const candidates = [
    {
      label: 'idle event loop (same duration, no saves)',
      body: async () => {
        const end = now() + idleFor;
        while (now() < end) await new Promise((resolve) => setTimeout(resolve, 1));
      },
    },
    {
      kind: 'reference',
      label: `floor through fs.promises (by hand), ${saves} saves`,
      body: async () => {
        for (let i = 0; i < saves; i++) await floorWrite(floorFile, Buffer.from(JSON.stringify(next(), null, 2)));
      },
    },
    {
      label: `config-persistence saveConfig, 2 KB JSON, ${saves} saves`,
      body: async () => {
        for (let i = 0; i < saves; i++) await cpJson.saveConfig(next(), 'settings.json');
      },
    },
    {
      label: `config-persistence saveConfig, 2 KB YAML, ${saves} saves`,
      body: async () => {
        for (let i = 0; i < saves; i++) await cpYaml.saveConfig(next(), 'settings.yaml');
      },
    },
    {
      label: `conf 15 set (synchronous write), ${saves} saves`,
      body: async () => {
        // One write per turn of the loop, as an application calling set() from a handler would.
        for (let i = 0; i < saves; i++) {
          conf.store = next();
          await tick();
        }
      },
    },
  ];

  // Warm-up: a tenth of the saves each (JIT, files and directories created, first backups taken).
  const full = saves;
  saves = Math.max(5, Math.floor(full / 10));
  for (const c of candidates.slice(1)) await c.body();
  saves = full;
  const maxes = candidates.map(() => []);
  const p99s = candidates.map(() => []);
  const gcs = candidates.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      const m = await monitored(candidates[i].body);
      if (i === 2) idleFor = m.elapsed; // the idle loop lasts as long as our saves did
      maxes[i].push(m.max);
      p99s[i].push(m.p99);
      gcs[i].push(m.gcMax);
    }
    progress(`eventloop round ${r + 1}/${rounds}: max stall ours ${maxes[2].at(-1).toFixed(2)} ms, conf ${maxes[4].at(-1).toFixed(2)} ms`);
  }
  await cpJson.close();
  await cpYaml.close();
  const first = await firstSaves({ quick, rounds, workDir });
  return {
    name: 'eventloop',
    description,
    rows: [
      ...candidates.map((c, i) => ({
        ...(c.kind ? { kind: c.kind } : {}),
        label: c.label,
        max_ms: round(median(maxes[i]), 2),
        note: `p99 stall ${median(p99s[i]).toFixed(2)} ms; longest GC pause ${median(gcs[i]).toFixed(1)} ms`,
      })),
      ...first,
    ],
    notes: [
      `max_ms: the longest stall of a ${RESOLUTION_MS} ms timer beyond its interval (monitorEventLoopDelay), median over ${rounds} round(s), after a warm-up of a tenth of the saves. A shared machine adds stalls to every row; compare with the idle row and with the longest GC pause.`,
      'first save rows: one save in a fresh process (after import), alone under the monitor; one-time costs live there.',
    ],
  };
}
