/**
 * Scenario "load": load + validate of 50 KB, 1 MB and 5 MB configs (YAML and JSON) through
 * `loadConfig`, against the fastest bare path in the same run — `fs.readFile` + `JSON.parse` /
 * js-yaml (core schema) + the same schema compiled by ajv with the same options — and `yaml` alone
 * (+ the same validator) for reference. Target: loadConfig ≤ 1.25× the bare path.
 *
 * Candidates are interleaved within each round (machine noise hits all of them) and the median
 * per-call time over rounds is reported. Peak memory: each candidate loads the file once in a
 * fresh child process (this file run with `--peak`), and its peak RSS is reported.
 *
 * Standalone: `node bench/load.mjs [--quick] [--rounds N]` prints the table itself.
 * Harness: `npm run bench -- --only load` (see bench/README.md).
 */
import { promises as fs } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import jsyaml from 'js-yaml';
import YAML from 'yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { DIST, median, now, progress, round } from './lib.mjs';

const addFormats = addFormatsModule.default ?? addFormatsModule;
const SELF = fileURLToPath(import.meta.url);

export const description = 'loadConfig (read + parse + validate + defaults) of 50 KB, 1 MB, 5 MB YAML/JSON vs bare parser + ajv';

/** The schema of the generated documents: types, ranges, formats and one default per service. */
export const SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['app', 'services'],
  properties: {
    app: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', minLength: 1 },
        version: { type: 'string' },
        environment: { enum: ['development', 'staging', 'production'] },
      },
      additionalProperties: false,
    },
    server: {
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
    },
    features: { type: 'object', additionalProperties: { type: 'boolean' } },
    services: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'url'],
        properties: {
          name: { type: 'string', minLength: 1 },
          url: { type: 'string', format: 'uri' },
          retries: { type: 'integer', minimum: 0, maximum: 10 },
          timeoutMs: { type: 'integer', minimum: 0 },
          weight: { type: 'number', default: 1 },
          tags: { type: 'array', items: { type: 'string' } },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
};

/** A config of about `bytes` bytes of YAML: services, feature flags (linear time, unlike JSON.stringify loops). */
export function makeDocument(bytes) {
  const doc = {
    app: { name: 'shop', version: '1.2.3', environment: 'production' },
    server: { host: '0.0.0.0', port: 8080 },
    features: {},
    services: [],
  };
  let approx = 120;
  for (let i = 0; approx < bytes; i++) {
    doc.services.push({
      name: `service-${i}`,
      url: `https://svc-${i}.internal.example.com:${9000 + (i % 1000)}/v1/api`,
      retries: i % 5,
      timeoutMs: 1000 + i * 10,
      tags: ['edge', `zone-${i % 7}`],
    });
    if (i % 4 === 0) doc.features[`flag_${i}`] = i % 8 === 0;
    approx += i % 4 === 0 ? 150 : 130;
  }
  return doc;
}

/** ajv as the bare baseline uses it: the options loadConfig uses (all errors, defaults, formats). */
function compileBaseline() {
  const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: true, allowUnionTypes: true });
  addFormats(ajv);
  return ajv.compile(SCHEMA);
}

function assertValid(validate, data) {
  if (!validate(data)) throw new Error(`baseline document invalid: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  return data;
}

const SIZES = [
  { label: '50 KB', bytes: 50 * 1024, iterations: 40 },
  { label: '1 MB', bytes: 1024 * 1024, iterations: 4 },
  { label: '5 MB', bytes: 5 * 1024 * 1024, iterations: 1 },
];

/** Runs the scenario; see bench/README.md for the contract. */
export async function run({ quick = false, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const sizes = quick ? SIZES.slice(0, 1).map((s) => ({ ...s, iterations: 3 })) : SIZES;
  const nRounds = rounds ?? (quick ? 1 : 7);
  const baseDir = path.join(workDir, 'config');
  await fs.mkdir(baseDir, { recursive: true });
  const schemaFile = path.join(workDir, 'schema.json');
  await fs.writeFile(schemaFile, JSON.stringify(SCHEMA));
  const validate = compileBaseline();
  const store = new ConfigPersistence({ baseDir, schema: SCHEMA, backupOnWrite: false });
  const rows = [];
  const notes = [];

  for (const size of sizes) {
    const doc = makeDocument(size.bytes);
    const files = {
      yaml: { name: `load-${size.bytes}.yaml`, text: jsyaml.dump(doc, { lineWidth: -1 }) },
      json: { name: `load-${size.bytes}.json`, text: `${JSON.stringify(doc, null, 2)}\n` },
    };
    for (const f of Object.values(files)) await fs.writeFile(path.join(baseDir, f.name), f.text);

    for (const format of ['yaml', 'json']) {
      const file = files[format];
      const abs = path.join(baseDir, file.name);
      const bare =
        format === 'yaml'
          ? async () => assertValid(validate, jsyaml.load(await fs.readFile(abs, 'utf8'), { schema: jsyaml.CORE_SCHEMA }))
          : async () => assertValid(validate, JSON.parse(await fs.readFile(abs, 'utf8')));
      const ours = () => store.loadConfig(file.name);
      const reference = format === 'yaml' ? async () => assertValid(validate, YAML.parse(await fs.readFile(abs, 'utf8'))) : undefined;
      // `yaml` takes seconds per megabyte (~45 s for 5 MB on a busy 2-core machine): fewer rounds for
      // it, none at 5 MB unless BENCH_LOAD_YAML_5MB=1, still interleaved with the others.
      const referenceRounds =
        size.bytes >= 5 * 1024 * 1024 ? (process.env.BENCH_LOAD_YAML_5MB === '1' ? 1 : 0) : size.bytes >= 1024 * 1024 ? Math.min(2, nRounds) : nRounds;

      // Same result from both, and warm the JIT before timing.
      const a = await ours();
      const b = await bare();
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`loadConfig and the bare path disagree on ${file.name}`);

      const times = { ours: [], bare: [], reference: [] };
      for (let r = 0; r < nRounds; r++) {
        progress(`load ${size.label} ${format}: round ${r + 1}/${nRounds}`);
        // Alternate who goes first: the second runner in a round inherits the first one's garbage.
        const order = r % 2 === 0 ? ['ours', 'bare'] : ['bare', 'ours'];
        if (reference && r < referenceRounds) order.push('reference');
        for (const who of order) {
          const fn = who === 'ours' ? ours : who === 'bare' ? bare : reference;
          const n = who === 'reference' ? Math.max(1, Math.ceil(size.iterations / 4)) : size.iterations;
          globalThis.gc?.();
          const start = now();
          for (let i = 0; i < n; i++) await fn();
          times[who].push((now() - start) / n);
        }
      }

      const peak = quick ? {} : await peakMemory(abs, format, schemaFile, baseDir, referenceRounds > 0);
      const bareMs = median(times.bare);
      const oursMs = median(times.ours);
      const fileKb = round(Buffer.byteLength(file.text) / 1024, 0);
      const bareLabel = format === 'yaml' ? 'js-yaml' : 'JSON.parse';
      rows.push({
        label: `${size.label} ${format.toUpperCase()} — bare ${bareLabel} + ajv (baseline)`,
        median_ms: round(bareMs),
        ratio: 1,
        ...(peak.bare ? { peak_rss_mb: peak.bare } : {}),
        note: `${fileKb} KB file`,
      });
      rows.push({
        label: `${size.label} ${format.toUpperCase()} — config-persistence loadConfig`,
        median_ms: round(oursMs),
        ratio: round(oursMs / bareMs),
        ...(peak.ours ? { peak_rss_mb: peak.ours } : {}),
        target: { metric: 'ratio', max: 1.25, text: '≤ 1.25× bare parser + ajv' },
      });
      if (reference && times.reference.length > 0) {
        const refMs = median(times.reference);
        rows.push({
          label: `${size.label} YAML — yaml (eemeli) + ajv (reference)`,
          median_ms: round(refMs),
          ratio: round(refMs / bareMs),
          ...(peak.reference ? { peak_rss_mb: peak.reference } : {}),
          note: `${times.reference.length} round(s)`,
        });
      }
    }
  }
  await store.close();
  notes.push(
    'loadConfig = storage read (symlink checks, size limit) + strict UTF-8 decode + parse + nesting-depth check + ajv validate with defaults.',
    'The YAML codec routes plain documents to js-yaml and anything with anchors, aliases, tags or merge keys to `yaml`; test/codecs-differential.test.ts checks both agree.',
    '`yaml` alone is measured at 50 KB and 1 MB only (set BENCH_LOAD_YAML_5MB=1 for 5 MB: it takes 15–45 s).',
    'peak_rss_mb: peak resident memory of a fresh Node process that loads the file once that way (Node itself is ~45 MB).',
  );
  return { name: 'load', description, rows, notes };
}

/** Peak RSS (MB) of a fresh process loading `file` once per candidate. */
async function peakMemory(file, format, schemaFile, baseDir, withReference) {
  const out = {};
  for (const who of ['bare', 'ours', ...(format === 'yaml' && withReference ? ['reference'] : [])]) {
    const result = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [SELF, '--peak', who, file, schemaFile, baseDir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`peak child exited ${code}`))));
    });
    out[who] = round(result.peakRssMb, 1);
  }
  return out;
}

/** Child mode: load once with one candidate and print the process's peak RSS. */
async function peakChild([who, file, schemaFile, baseDir]) {
  const schema = JSON.parse(await fs.readFile(schemaFile, 'utf8'));
  if (who === 'ours') {
    const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
    const store = new ConfigPersistence({ baseDir, schema });
    await store.loadConfig(path.basename(file));
    await store.close();
  } else {
    const validate = compileBaseline();
    const text = await fs.readFile(file, 'utf8');
    const data = who === 'reference' ? YAML.parse(text) : file.endsWith('.json') ? JSON.parse(text) : jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA });
    assertValid(validate, data);
  }
  process.stdout.write(JSON.stringify({ peakRssMb: process.resourceUsage().maxRSS / 1024 }));
}

/** Standalone mode: run and print a table. */
async function standalone(argv) {
  const quick = argv.includes('--quick');
  const roundsAt = argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : undefined;
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-bench-load-'));
  try {
    const result = await run({ quick, rounds, workDir });
    const pad = (s, n) => String(s ?? '').padEnd(n);
    process.stdout.write(`${result.description}\n\n`);
    process.stdout.write(`${pad('candidate', 62)}${pad('median ms', 12)}${pad('ratio', 8)}${pad('peak MB', 10)}target\n`);
    for (const row of result.rows) {
      const verdict = row.target ? `${row.ratio <= row.target.max ? 'PASS' : 'MISS'} (${row.target.text})` : '';
      process.stdout.write(`${pad(row.label, 62)}${pad(row.median_ms, 12)}${pad(row.ratio, 8)}${pad(row.peak_rss_mb, 10)}${verdict}\n`);
    }
    process.stdout.write(`\n${result.notes.map((n) => `- ${n}`).join('\n')}\n`);
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--peak') await peakChild(argv.slice(1));
  else await standalone(argv);
}
