/**
 * Cold start: a fresh Node process that opens the effective configuration and reads one value,
 * timed from spawn to exit. Ours: `Configuration.open` over default.yaml ← a 3-deep profile chain
 * (production → staging → base) ← current.yaml ← an environment variable, validated against the
 * example JSON Schema. node-config: default.yaml + production.yaml (it validates nothing).
 * Processes alternate candidate by candidate so machine noise hits all of them alike.
 *
 * The validator cache lives in the work directory (not ~/.cache), filled by the warm-up process as
 * an application's first start would fill it. A second row runs with the cache off: what every
 * start costs without it, and what the first start after a schema or dependency change costs.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DIST, median, progress, ROOT, round, timeProcess } from './lib.mjs';

export const description = 'cold open in a fresh process (default + 3 profiles + current + env + schema) vs node-config';

const require = createRequire(path.join(ROOT, 'package.json'));

/** Writes the fixture: our config directory, the schema, and node-config's directory. */
export async function fixture(workDir) {
  const ours = path.join(workDir, 'config');
  await mkdir(path.join(ours, 'profiles'), { recursive: true });
  await mkdir(path.join(workDir, 'schemas'), { recursive: true });
  await copyFile(path.join(ROOT, 'config', 'default.yaml'), path.join(ours, 'default.yaml'));
  await copyFile(path.join(ROOT, 'schemas', 'config.schema.json'), path.join(workDir, 'schemas', 'config.schema.json'));
  await writeFile(
    path.join(ours, 'profiles', 'base.yaml'),
    '$profile:\n  description: Settings shared by every deployed environment\nlogging:\n  format: json\ncache:\n  ttlSeconds: 600\n',
  );
  await writeFile(
    path.join(ours, 'profiles', 'staging.yaml'),
    '$profile:\n  extends: base\n  description: Staging cluster\napp:\n  environment: staging\ndatabase:\n  pool:\n    min: 2\n    max: 20\n',
  );
  const production = await readFile(path.join(ROOT, 'config', 'profiles', 'production.yaml'), 'utf8');
  await writeFile(path.join(ours, 'profiles', 'production.yaml'), production.replace('$profile:\n', '$profile:\n  extends: staging\n'));
  await writeFile(path.join(ours, 'current.yaml'), '# Changed at runtime by the admin page.\nfeatures:\n  newCheckout: true\nlogging:\n  level: info\n');
  // node-config: the same default and production files, without our profile metadata.
  const nodeConfigDir = path.join(workDir, 'node-config');
  await mkdir(nodeConfigDir, { recursive: true });
  await copyFile(path.join(ROOT, 'config', 'default.yaml'), path.join(nodeConfigDir, 'default.yaml'));
  await writeFile(path.join(nodeConfigDir, 'production.yaml'), production.replace(/^\$profile:\n(  .*\n)*/m, ''));
  return { nodeConfigDir };
}

/** The scripts each fresh process runs; each prints what it loaded so the parent can check it. */
export async function scripts(workDir) {
  const dist = JSON.stringify(DIST);
  const ours = path.join(workDir, 'ours.mjs');
  await writeFile(
    ours,
    `const t0 = performance.now();
const lib = await import(${dist});
let port, level, how;
if (lib.Configuration) {
  const c = await lib.Configuration.open({ baseDir: 'config', profile: 'production', envPrefix: 'CP' });
  port = c.get('server.port'); level = c.get('logging.level'); how = 'Configuration.open';
} else {
  // Configuration is not built yet: the same work through the core API (5 loads, merge, env, ajv).
  const { default: Ajv2020 } = await import(${JSON.stringify(require.resolve('ajv/dist/2020.js'))});
  const { default: addFormats } = await import(${JSON.stringify(require.resolve('ajv-formats'))});
  const cp = new lib.ConfigPersistence({ baseDir: 'config', schemaDir: 'no-schemas' });
  const files = ['default.yaml', 'profiles/base.yaml', 'profiles/staging.yaml', 'profiles/production.yaml', 'current.yaml'];
  const docs = await Promise.all(files.map((f) => cp.loadConfig(f)));
  let data = {};
  for (const d of docs) { const { $profile, ...rest } = d; data = lib.mergeDocuments(data, rest); }
  data = lib.setPath(data, 'server.port', Number(process.env.CP__SERVER__PORT));
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
  addFormats(ajv);
  const { readFileSync } = await import('node:fs');
  const validate = ajv.compile(JSON.parse(readFileSync('schemas/config.schema.json', 'utf8')));
  if (!validate(data)) throw new Error(JSON.stringify(validate.errors));
  port = data.server.port; level = data.logging.level; how = 'fallback';
}
process.stdout.write(JSON.stringify({ port, level, how, load_ms: performance.now() - t0, since_start_ms: performance.now(), cpu_ms: (process.cpuUsage().user + process.cpuUsage().system) / 1000 }));
process.exit(0);
`,
  );
  const nodeConfig = path.join(workDir, 'node-config.cjs');
  await writeFile(
    nodeConfig,
    `const t0 = performance.now();
const config = require(${JSON.stringify(require.resolve('config'))});
const port = config.get('server.port');
const level = config.get('logging.level');
process.stdout.write(JSON.stringify({ port, level, load_ms: performance.now() - t0, since_start_ms: performance.now(), cpu_ms: (process.cpuUsage().user + process.cpuUsage().system) / 1000 }));
process.exit(0);
`,
  );
  const empty = path.join(workDir, 'empty.mjs');
  await writeFile(empty, `process.stdout.write(JSON.stringify({ load_ms: 0, since_start_ms: performance.now(), cpu_ms: (process.cpuUsage().user + process.cpuUsage().system) / 1000 }));\n`);
  return { ours, nodeConfig, empty };
}

export async function run({ quick, rounds, workDir }) {
  const { nodeConfigDir } = await fixture(workDir);
  const files = await scripts(workDir);
  const perRound = quick ? 2 : 4;
  const env = {
    ...process.env,
    CP__SERVER__PORT: '9000',
    CONFIG_PROFILE: '',
    NODE_ENV: 'production',
    NODE_CONFIG_DIR: nodeConfigDir,
    SUPPRESS_NO_CONFIG_WARNING: '1',
    CONFIG_PERSISTENCE_CACHE_DIR: path.join(workDir, 'validator-cache'),
  };
  delete env.NODE_OPTIONS; // the harness's own flags must not slow the children
  delete env.NODE_DEBUG;
  const candidates = [
    { key: 'node', kind: 'reference', label: 'node, empty script (process start/exit only)', script: files.empty, check: () => true },
    {
      key: 'ours',
      label: 'config-persistence Configuration.open',
      script: files.ours,
      check: (out) => out.port === 9000 && out.level === 'info',
      target: { metric: 'ratio', max: 1, text: '≤ 1.0× node-config' },
    },
    { key: 'node-config', kind: 'peer', label: 'node-config 4 (default + production, no validation)', script: files.nodeConfig, check: (out) => out.port === 80 && out.level === 'warn' },
    {
      key: 'ours-no-cache',
      kind: 'reference',
      label: 'config-persistence Configuration.open, validator cache off (= first start)',
      script: files.ours,
      env: { CONFIG_PERSISTENCE_CACHE_DIR: 'off' },
      check: (out) => out.port === 9000 && out.level === 'info',
    },
  ];
  const wall = candidates.map(() => []);
  const load = candidates.map(() => []);
  const cpu = candidates.map(() => []);
  const how = new Set();
  const opts = { cwd: workDir, env };
  await timeProcess([files.ours], opts); // warm the page cache for both
  await timeProcess([files.nodeConfig], opts);
  for (let r = 0; r < rounds; r++) {
    for (let p = 0; p < perRound; p++) {
      for (let k = 0; k < candidates.length; k++) {
        const i = (k + p + r) % candidates.length;
        const c = candidates[i];
        const { ms, stdout } = await timeProcess([c.script], c.env ? { ...opts, env: { ...env, ...c.env } } : opts);
        const out = JSON.parse(stdout);
        if (!c.check(out)) throw new Error(`${c.label} loaded the wrong values: ${stdout}`);
        if (out.how) how.add(out.how);
        wall[i].push(ms);
        load[i].push(out.load_ms);
        cpu[i].push(out.cpu_ms);
      }
    }
    progress(`startup round ${r + 1}/${rounds}: ours ${median(wall[1]).toFixed(0)} ms, node-config ${median(wall[2]).toFixed(0)} ms`);
  }
  const nodeConfigWall = median(wall[2]);
  const rows = candidates.map((c, i) => {
    const row = {
      ...(c.kind ? { kind: c.kind } : {}),
      label: c.label + (c.key === 'ours' && how.has('fallback') ? ' (fallback: Configuration not built yet — loadConfig ×5 + merge + ajv)' : ''),
      median_ms: round(median(wall[i]), 1),
      ratio: round(median(wall[i]) / nodeConfigWall, 2),
      // CPU time is less disturbed than wall time by other work on a shared machine.
      note: `process CPU time ${median(cpu[i]).toFixed(0)} ms${c.key === 'node' ? '' : `; in-process load (import + open + first get) ${median(load[i]).toFixed(0)} ms`}`,
    };
    if (c.target) row.target = c.target;
    return row;
  });
  return {
    name: 'startup',
    description,
    rows,
    notes: [`wall time from spawn to exit, median of ${wall[1].length} fresh processes per candidate; the ratio is against node-config.`],
  };
}
