/**
 * Crash-test worker: performs one kind of operation in an endless loop and prints one line per
 * acknowledged (resolved) operation, so the parent knows what must survive a kill -9.
 *
 * Usage: node loop.mjs <mode> <baseDir> [padBytes]
 *   save   — saveConfig({ seq, pad }, 'current.json'); prints "ack <seq> <version>"
 *   update — update('counter.json', n + 1);          prints "ack <n> <version>"
 *   yaml   — saveConfig into settings.yaml (comments kept); prints "ack <seq> <version>"
 * Every worker first prints "started" once its first operation is about to run.
 */
import { ConfigPersistence } from '../../../dist/index.js';

const [mode, baseDir, padArg] = process.argv.slice(2);
const pad = 'x'.repeat(Number(padArg ?? 2000));
const cp = new ConfigPersistence({ baseDir, maxBackups: 5 });

async function lastSeq(file) {
  try {
    return (await cp.loadConfig(file)).seq ?? 0;
  } catch (err) {
    if (err.code === 'E_NOT_FOUND') return 0;
    throw err;
  }
}

const ops = {
  async save() {
    let seq = await lastSeq('current.json');
    process.stdout.write('started\n');
    for (;;) {
      seq += 1;
      const r = await cp.saveConfig({ seq, pad, nested: { at: Date.now(), list: [seq, seq + 1] } }, 'current.json');
      process.stdout.write(`ack ${seq} ${r.version}\n`);
    }
  },
  async yaml() {
    let seq = await lastSeq('settings.yaml');
    process.stdout.write('started\n');
    for (;;) {
      seq += 1;
      const r = await cp.saveConfig({ seq, pad, api: { port: 8000 + (seq % 1000) } }, 'settings.yaml');
      process.stdout.write(`ack ${seq} ${r.version}\n`);
    }
  },
  async update() {
    process.stdout.write('started\n');
    for (;;) {
      let seen = 0;
      const r = await cp.update('counter.json', (cur) => {
        seen = (cur?.seq ?? 0) + 1;
        return { seq: seen, pad };
      });
      process.stdout.write(`ack ${seen} ${r.version}\n`);
    }
  },
};

const run = ops[mode];
if (!run) {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
await run();
