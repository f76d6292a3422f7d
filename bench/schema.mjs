/**
 * Scenario "schema": what the schema-power features cost on the load path, each row as a ratio to
 * the plain load it extends. Today one comparison:
 *
 * - encryption at rest with `encryptFiles` (docs/encryption.md): `loadConfig` of a 50 KB and a
 *   1 MB JSON config whose file is AES-256-GCM encrypted (read + decrypt + parse + validate +
 *   defaults), against the same `loadConfig` of the plain file in the same rounds.
 *
 * More rows (an `x-merge` layer merge, ...) go into {@link CASES}: each case names the store
 * options of its candidate and the baseline it is compared with.
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

export const description = 'schema-power features on the load path: loadConfig of an encrypted file (encryptFiles) vs the plain file';

const SIZES = [
  { label: '50 KB', bytes: 50 * 1024, iterations: 40 },
  { label: '1 MB', bytes: 1024 * 1024, iterations: 4 },
];

/**
 * What is compared, per size: `baseline` and `candidate` are store options over their own
 * directory holding the same document (`file`). `target` is the ratio the candidate should stay under.
 */
const CASES = [
  {
    key: 'encrypted',
    label: (size) => `loadConfig ${size} JSON, encrypted file (decrypt + parse + validate)`,
    baselineLabel: (size) => `loadConfig ${size} JSON, plain file (baseline)`,
    baseline: () => ({}),
    candidate: () => ({ encryptionKey: randomBytes(32).toString('hex'), encryptFiles: true }),
    // Decryption is linear in the file (~1 µs per KB here) like parsing, but parsing a small file is cheap too: three 5-round runs on a loaded 2-core machine: 50 KB 1.03-1.24×, 1 MB 1.17-1.35×.
    target: { metric: 'ratio', max: 1.5, text: '≤ 1.5× plain' },
    note: 'AES-256-GCM of the whole file on every read (Node crypto); the key id is checked before decrypting',
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
    const store = new ConfigPersistence({ baseDir, schemaDir: path.join(workDir, 'no-schemas'), schema: SCHEMA, backupOnWrite: false, validatorCache: false, ...options });
    stores.push(store);
    return store;
  };
  for (const size of sizes) {
    const doc = makeDocument(size.bytes);
    const file = `load-${size.bytes}.json`;
    for (const c of CASES) {
      const plain = await open(`${c.key}-${size.bytes}-baseline`, c.baseline());
      const subject = await open(`${c.key}-${size.bytes}-candidate`, c.candidate());
      await plain.saveConfig(doc, file);
      await subject.saveConfig(doc, file);
      const candidates = [
        { label: c.baselineLabel(size.label), load: () => plain.loadConfig(file) },
        { label: c.label(size.label), load: () => subject.loadConfig(file) },
      ];
      for (const cand of candidates) for (let w = 0; w < 5; w++) await cand.load(); // warm: compiled schema, JIT
      const samples = candidates.map(() => []);
      for (let r = 0; r < nRounds; r++) {
        for (let k = 0; k < candidates.length; k++) {
          const i = (k + r) % candidates.length; // rotate who goes first
          samples[i].push(await timeEach(size.iterations, candidates[i].load));
        }
        progress(`schema ${size.label} round ${r + 1}/${nRounds}: ${samples.map((s) => s.at(-1).toFixed(3)).join(' / ')} ms`);
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
