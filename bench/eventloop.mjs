/**
 * Event-loop blocking during saves: the longest stall (perf_hooks.monitorEventLoopDelay, 1 ms
 * resolution) while 200 saves run one after another. conf writes synchronously, so each of its
 * writes (fsync included) stops everything else the process does; config-persistence keeps the
 * file system work off the loop and spends only encode/hash time on it. An idle loop over the same
 * time is the noise floor.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Conf from 'conf';
import { DIST, floorWrite, makeConfig, median, now, progress, round } from './lib.mjs';

export const description = 'longest event-loop stall during 200 sequential saves';

const RESOLUTION_MS = 1;
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Runs `body` under an event-loop delay monitor; returns stalls beyond the timer resolution. */
async function monitored(body) {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const start = now();
  await body();
  const elapsed = now() - start;
  // Let the monitor's timer fire once more, so a stall at the very end is recorded.
  await new Promise((resolve) => setTimeout(resolve, 3 * RESOLUTION_MS));
  h.disable();
  const toMs = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  return { max: toMs(h.max), p99: toMs(h.percentile(99)), elapsed };
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
      label: `floor (async fs, by hand), ${saves} saves`,
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
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      const m = await monitored(candidates[i].body);
      if (i === 2) idleFor = m.elapsed; // the idle loop lasts as long as our saves did
      maxes[i].push(m.max);
      p99s[i].push(m.p99);
    }
    progress(`eventloop round ${r + 1}/${rounds}: max stall ours ${maxes[2].at(-1).toFixed(2)} ms, conf ${maxes[4].at(-1).toFixed(2)} ms`);
  }
  await cpJson.close();
  await cpYaml.close();
  return {
    name: 'eventloop',
    description,
    rows: candidates.map((c, i) => ({
      ...(c.kind ? { kind: c.kind } : {}),
      label: c.label,
      max_ms: round(median(maxes[i]), 2),
      note: `p99 stall ${median(p99s[i]).toFixed(2)} ms`,
    })),
    notes: [
      `max_ms: the longest stall of a ${RESOLUTION_MS} ms timer beyond its interval (monitorEventLoopDelay), median over ${rounds} round(s). A shared machine adds stalls to every row; compare with the idle row.`,
    ],
  };
}
