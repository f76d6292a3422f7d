/**
 * Crash-test worker over a mix of operations: saves, deletes, labelled backups, restores of file
 * backups, profile saves and deletes, snapshots and snapshot restores, bundle exports and imports. Before each operation it
 * prints "pending <json>" (what the files will hold once it is done: path → data, null = gone);
 * after it resolves, "ack". The parent keeps the model of what every file must hold.
 *
 * Usage: node model-loop.mjs <baseDir> <state.json>
 * state.json (written by the parent): { seq, files: { path: data }, backups: [{ id, file, data }],
 * snapshots: [{ id, files: { path: data } }], bundles: [{ bundle, files }] }.
 */
import { readFileSync } from 'node:fs';
import { ConfigPersistence } from '../../../dist/index.js';

const [baseDir, statePath] = process.argv.slice(2);
const state = JSON.parse(readFileSync(statePath, 'utf8'));
const cp = new ConfigPersistence({ baseDir, maxBackups: 4 });
const CONFIGS = ['a.json', 'b.yaml', 'c.json'];
const PROFILES = ['p1', 'p2'];
const files = state.files;
let seq = state.seq;

const out = (line) => process.stdout.write(`${line}\n`);
const pick = (list) => list[Math.floor(Math.random() * list.length)];
const existing = () => Object.keys(files).filter((f) => files[f] !== null);

async function step() {
  seq += 1;
  const roll = Math.random();
  if (roll < 0.3) {
    const f = pick(CONFIGS);
    const data = { seq, file: f, pad: 'p'.repeat(1500) };
    out(`pending ${JSON.stringify({ [f]: data })}`);
    await cp.saveConfig(data, f);
    files[f] = data;
  } else if (roll < 0.38) {
    const f = pick(existing().filter((x) => CONFIGS.includes(x)));
    if (!f) return;
    out(`pending ${JSON.stringify({ [f]: null })}`);
    await cp.deleteConfig(f);
    files[f] = null;
  } else if (roll < 0.5) {
    const f = pick(existing());
    if (!f) return;
    out('pending {}');
    const b = await cp.createBackup(f, { label: `l${seq}` });
    const rec = { id: b.id, file: f, data: files[f] };
    state.backups.push(rec);
    out(`backup ${JSON.stringify(rec)}`);
  } else if (roll < 0.6) {
    const b = pick(state.backups);
    if (!b) return;
    out(`pending ${JSON.stringify({ [b.file]: b.data })}`);
    await cp.restoreBackup(b.id);
    files[b.file] = b.data;
  } else if (roll < 0.75) {
    const name = pick(PROFILES);
    const f = `profiles/${name}.json`;
    const data = { seq, profile: name };
    out(`pending ${JSON.stringify({ [f]: data })}`);
    await cp.saveProfile(name, data);
    files[f] = data;
  } else if (roll < 0.82) {
    const name = pick(PROFILES);
    const f = `profiles/${name}.json`;
    if (!files[f]) return;
    out(`pending ${JSON.stringify({ [f]: null })}`);
    await cp.deleteProfile(name);
    files[f] = null;
  } else if (roll < 0.9) {
    if (existing().length === 0) return;
    out('pending {}');
    const snap = await cp.createSnapshot({ label: `s${seq}` });
    const rec = { id: snap.id, files: Object.fromEntries(existing().map((f) => [f, files[f]])) };
    state.snapshots.push(rec);
    out(`snapshot ${JSON.stringify(rec)}`);
  } else if (roll < 0.93) {
    if (existing().length === 0) return;
    out('pending {}');
    const bundle = await cp.exportBundle();
    const rec = { bundle, files: Object.fromEntries(existing().map((f) => [f, files[f]])) };
    state.bundles = [...(state.bundles ?? []).slice(-2), rec];
    out(`bundle ${JSON.stringify(rec)}`);
  } else if (roll < 0.95) {
    const rec = pick(state.bundles ?? []);
    if (!rec) return;
    // Overwrite: every file of the bundle comes back as it was exported; others stay.
    out(`pending ${JSON.stringify(rec.files)}`);
    await cp.importBundle(rec.bundle, { onConflict: 'overwrite' });
    Object.assign(files, rec.files);
  } else {
    const snap = pick(state.snapshots);
    if (!snap) return;
    // Brings back exactly the snapshot's files; every other config and profile goes.
    const next = Object.fromEntries(Object.keys(files).map((f) => [f, null]));
    Object.assign(next, snap.files);
    out(`pending ${JSON.stringify(next)}`);
    await cp.restoreBackup(snap.id);
    Object.assign(files, next);
  }
  out('ack');
}

out('started');
for (;;) await step();
