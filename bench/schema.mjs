/**
 * Scenario "schema": what the schema-power features cost on the load path, each row as a ratio to
 * the plain load it extends:
 *
 * - encryption at rest with `encryptFiles` (docs/encryption.md): `loadConfig` of a 50 KB and a
 *   1 MB JSON config whose file is AES-256-GCM encrypted (read + decrypt + parse + validate +
 *   defaults), against the same `loadConfig` of the plain file in the same rounds.
 * - merge strategies (`x-merge`, docs/schema.md): `loadProfile` of a profile three deep
 *   (`default.json` ← a ← b ← c, each profile changing every 7th service and adding a tag to it)
 *   with the services merged `{ "by": "name" }` and their tags `append`ed, against the same
 *   effective configuration without `x-merge`, where each profile must spell out the whole list
 *   (arrays replace), in the same rounds. Both give equal results (checked).
 *
 * Each case in {@link CASES} names the store options of its baseline and candidate, what to write
 * before timing, and the load that is timed.
 *
 * Candidates are interleaved within each round (machine noise hits all of them); the median of the
 * per-round ratios is reported.
 *
 * Standalone: `npm run build && node bench/schema.mjs [--quick] [--rounds N]` prints the table itself.
 * Harness: `npm run bench -- --only schema` (see bench/README.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DIST, median, progress, round, timeEach } from './lib.mjs';
import { makeDocument, SCHEMA } from './load.mjs';

export const description = 'schema-power features on the load path: an encrypted file (encryptFiles) vs the plain file; a profile chain merged with x-merge strategies vs profiles that repeat the whole list';

const SIZES = [
  { label: '50 KB', bytes: 50 * 1024, iterations: 40 },
  { label: '1 MB', bytes: 1024 * 1024, iterations: 4 },
];

/** {@link SCHEMA} with merge strategies: services merged element by element on `name`, their tags appended. */
const MERGE_SCHEMA = (() => {
  const schema = structuredClone(SCHEMA);
  schema.properties.services['x-merge'] = { by: 'name' };
  schema.properties.services.items.properties.tags['x-merge'] = 'append';
  return schema;
})();

/** Profiles a ← b ← c over `doc`: each changes every 7th service (shifted) and adds a tag to it. */
function profilesOf(doc) {
  const layer = (offset, tag) => ({ services: doc.services.filter((_, i) => i % 7 === offset).map((s) => ({ name: s.name, retries: (s.retries + offset) % 10, tags: [tag] })) });
  return [
    ['a', layer(1, 'canary'), undefined],
    ['b', layer(2, 'blue'), 'a'],
    ['c', { ...layer(3, 'green'), server: { port: 8443 } }, 'b'],
  ];
}

/**
 * Writes `default.json` and the chain a ← b ← c. `full`: each profile spells out the whole services
 * list as merged so far (what a schema without `x-merge` needs for the same effective result);
 * otherwise only the changed services, merged by name.
 */
async function writeChain(store, doc, full) {
  await store.saveConfig(doc, 'default.json');
  let services = doc.services;
  for (const [name, data, parent] of profilesOf(doc)) {
    const changed = new Map(data.services.map((s) => [s.name, s]));
    services = services.map((s) => {
      const c = changed.get(s.name);
      return c ? { ...s, retries: c.retries, tags: [...s.tags, ...c.tags] } : s;
    });
    await store.saveProfile(name, full ? { ...data, services } : data, parent ? { extends: parent } : {});
  }
}

/** Fails the run when a candidate loads something else than its baseline (a fast wrong answer is no result). */
function equal(what, a, b) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${what}: the candidate loads something else than its baseline`);
}

/** The options each store of the run was made with (for opening a Configuration beside it). */
const OPTIONS = new WeakMap();

/** The effective configuration of profile c, as an application opens it. */
async function effective(store) {
  const { Configuration } = await import(pathToFileURL(DIST).href);
  const config = await Configuration.open({ ...OPTIONS.get(store), profile: 'c', env: {} });
  const data = config.data;
  await config.close();
  return data;
}

/**
 * What is compared, per size: `baseline` and `candidate` are store options over their own
 * directory; `setup` writes the same files into both; `load` is what is timed. `target` is the
 * ratio the candidate should stay under.
 */
const CASES = [
  {
    key: 'encrypted',
    label: (size) => `loadConfig ${size} JSON, encrypted file (decrypt + parse + validate)`,
    baselineLabel: (size) => `loadConfig ${size} JSON, plain file (baseline)`,
    baseline: () => ({}),
    candidate: () => ({ encryptionKey: randomBytes(32).toString('hex'), encryptFiles: true }),
    setup: (store, doc) => store.saveConfig(doc, 'load.json'),
    load: (store) => store.loadConfig('load.json'),
    same: async (a, b) => equal('encrypted', await a.loadConfig('load.json'), await b.loadConfig('load.json')),
    // Decryption is linear in the file (~1 µs per KB here) like parsing, but parsing a small file is cheap too: three 5-round runs on a loaded 2-core machine: 50 KB 1.03-1.24×, 1 MB 1.17-1.35×.
    target: { metric: 'ratio', max: 1.5, text: '≤ 1.5× plain' },
    note: 'AES-256-GCM of the whole file on every read (Node crypto); the key id is checked before decrypting',
  },
  {
    key: 'x-merge',
    label: (size) => `loadProfile over default ${size} ← a ← b ← c, services by name, tags appended`,
    baselineLabel: (size) => `loadProfile over default ${size} ← a ← b ← c, each profile the whole list (baseline)`,
    baseline: () => ({}),
    candidate: () => ({ schema: MERGE_SCHEMA }),
    setup: (store, doc, candidate) => writeChain(store, doc, !candidate),
    load: (store) => store.loadProfile('c'),
    // loadProfile gives the chain's own data; the effective configuration over default.json is what must agree.
    same: async (a, b) => equal('x-merge', await effective(a), await effective(b)),
    target: { metric: 'ratio', max: 1.5, text: '≤ 1.5× whole lists' },
    note: 'the baseline parses longer profiles; the candidate merges by name (each merge indexes the lower list)',
  },
];

/** Runs the scenario; see bench/README.md for the contract. */
export async function run({ quick = false, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const sizes = quick ? SIZES.slice(0, 1).map((s) => ({ ...s, iterations: 3 })) : SIZES;
  const nRounds = rounds ?? (quick ? 1 : 7);
  const rows = [];
  const stores = [];
  const open = async (name, options) => {
    const baseDir = path.join(workDir, name);
    await mkdir(baseDir, { recursive: true });
    const all = { baseDir, schemaDir: path.join(workDir, 'no-schemas'), schema: SCHEMA, backupOnWrite: false, validatorCache: false, ...options };
    const store = new ConfigPersistence(all);
    OPTIONS.set(store, all);
    stores.push(store);
    return store;
  };
  for (const size of sizes) {
    const doc = makeDocument(size.bytes);
    for (const c of CASES) {
      const plain = await open(`${c.key}-${size.bytes}-baseline`, c.baseline());
      const subject = await open(`${c.key}-${size.bytes}-candidate`, c.candidate());
      await c.setup(plain, doc, false);
      await c.setup(subject, doc, true);
      const candidates = [
        { label: c.baselineLabel(size.label), load: () => c.load(plain) },
        { label: c.label(size.label), load: () => c.load(subject) },
      ];
      for (const cand of candidates) for (let w = 0; w < 5; w++) await cand.load(); // warm: compiled schema, JIT
      await c.same(plain, subject);
      const samples = candidates.map(() => []);
      for (let r = 0; r < nRounds; r++) {
        for (let k = 0; k < candidates.length; k++) {
          const i = (k + r) % candidates.length; // rotate who goes first
          samples[i].push(await timeEach(size.iterations, candidates[i].load));
        }
        progress(`schema ${c.key} ${size.label} round ${r + 1}/${nRounds}: ${samples.map((s) => s.at(-1).toFixed(3)).join(' / ')} ms`);
      }
      const ratio = round(median(samples[1].map((ms, r) => ms / samples[0][r])), 2);
      rows.push({ label: candidates[0].label, median_ms: round(median(samples[0])), ratio: 1 });
      rows.push({ label: candidates[1].label, median_ms: round(median(samples[1])), ratio, target: c.target, note: c.note });
    }
  }
  await Promise.all(stores.map((s) => s.close()));
  return {
    name: 'schema',
    description,
    rows,
    notes: [`${sizes.map((s) => `${s.label}: ${s.iterations} loads`).join(', ')} per candidate per round, ${nRounds} round(s), interleaved; ratios are medians of per-round ratios.`],
  };
}

/** Standalone: `node bench/schema.mjs [--quick] [--rounds N]`. */
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const at = args.indexOf('--rounds');
  const rounds = at === -1 ? undefined : Number(args[at + 1]);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'cp-bench-schema-'));
  try {
    const result = await run({ quick, rounds, workDir });
    process.stdout.write(`${result.description}\n\n`);
    for (const r of result.rows) {
      const verdict = r.target ? (r[r.target.metric] <= r.target.max ? 'PASS' : 'MISS') : '';
      process.stdout.write(`${r.label.padEnd(66)} ${String(r.median_ms).padStart(9)} ms  ${String(r.ratio).padStart(5)}×  ${r.target ? `${r.target.text} ${verdict}` : ''}\n`);
    }
    for (const n of result.notes) process.stdout.write(`\n${n}`);
    process.stdout.write('\n');
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
