/**
 * The docs are tested like code. Every relative link of README.md and docs/*.md must lead to a file
 * (and a heading, for `#anchors`). Every code block must run as printed — in document order, in a
 * sandbox holding a copy of the bundled example (`config/`, `schemas/`), one sandbox per Markdown
 * file — and print what the doc shows; blocks that are not meant to run say so with a mark (see
 * test/helpers/doc-blocks.ts). ts/js blocks run as ESM importing the built package (the sandbox's
 * node_modules links to this repository), ts blocks are also type-checked with `tsc --strict`, and
 * shell blocks run the built CLI as `config-persistence`. Blocks of one file depend on the ones before
 * them: filter by file (`-t "^docs/cli.md"`), not by block.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorsOf, blocksOf, linksOf, outputMismatch, sessionOf, type DocBlock } from './helpers/doc-blocks.js';
import { CLI, ROOT } from './helpers/tmp.js';

const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const BLOCK_TIMEOUT_MS = 60_000;

interface Ran {
  code: number | null;
  output: string;
}

/** Runs `command` with bash in `cwd`, stdout and stderr merged in the order they were written. */
function bash(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `exec 2>&1\n${script}`], { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), BLOCK_TIMEOUT_MS - 5_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** A copy of the bundled example, where `config-persistence` (CLI and package) is this build. */
async function makeSandbox(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cp-docs-'));
  await cp(path.join(ROOT, 'config'), path.join(dir, 'config'), { recursive: true });
  await cp(path.join(ROOT, 'schemas'), path.join(dir, 'schemas'), { recursive: true });
  await mkdir(path.join(dir, 'node_modules'), { recursive: true });
  await symlink(ROOT, path.join(dir, 'node_modules', 'config-persistence'), 'dir');
  await mkdir(path.join(dir, 'bin'));
  await writeFile(path.join(dir, 'bin', 'config-persistence'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  await mkdir(path.join(dir, 'home'));
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  return dir;
}

/** The environment of a reader's fresh shell: no profile or app variables of ours leak in. */
function envFor(sandbox: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(CONFIG_PROFILE|SHOP__|FORCE_COLOR|NODE_OPTIONS|NODE_DEBUG|DEBUG)/.test(k)) env[k] = v;
  }
  return { ...env, PATH: `${path.join(sandbox, 'bin')}:${path.dirname(process.execPath)}:${process.env.PATH}`, HOME: path.join(sandbox, 'home'), NO_COLOR: '1', TZ: 'UTC' };
}

const where = (b: DocBlock): string => `${b.doc}:${b.line}`;
const slug = (b: DocBlock): string => `${b.doc.replace(/[/.]/g, '_')}-${b.line}`;

async function runProgram(block: DocBlock, sandbox: string): Promise<Ran> {
  const source = block.plan.kind === 'program' && block.plan.lang === 'ts' ? (await transform(block.code, { loader: 'ts', format: 'esm', target: 'node20' })).code : block.code;
  const file = path.join(sandbox, '.blocks', `${slug(block)}.mjs`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, source);
  return bash(`exec "${process.execPath}" "${file}"`, sandbox, envFor(sandbox));
}

async function runSession(block: DocBlock, sandbox: string): Promise<string> {
  let output = '';
  for (const step of sessionOf(block)) {
    const ran = await bash(`set -o pipefail\n${step.command}`, sandbox, envFor(sandbox));
    expect(ran.code, `${where(block)}: \`${step.command}\` exited ${ran.code}, the doc says ${step.exit}; it printed:\n${ran.output}`).toBe(step.exit);
    if (step.expected.trim() !== '') {
      const mismatch = outputMismatch(step.expected, ran.output);
      if (mismatch) throw new Error(`${where(block)}: \`${step.command}\` printed something else than the doc shows.\n${mismatch}`);
    }
    output += ran.output;
  }
  return output;
}

function checkLinks(doc: string): void {
  for (const link of linksOf(read(doc))) {
    const [target = '', anchor] = link.split('#');
    const file = target === '' ? path.join(ROOT, doc) : path.resolve(ROOT, path.dirname(doc), decodeURIComponent(target));
    expect(existsSync(file), `${doc} → ${link}: no such file`).toBe(true);
    if (anchor && file.endsWith('.md') && statSync(file).isFile()) {
      expect([...anchorsOf(readFileSync(file, 'utf8'))], `${doc} → ${link}: no such heading`).toContain(anchor);
    }
  }
}

/** Registers one test per block that takes part; they run in document order in one sandbox. */
function describeDoc(doc: string): void {
  let blocks: DocBlock[];
  it('has relative links that lead to a file (and a heading)', () => checkLinks(doc));
  try {
    blocks = blocksOf(doc, read(doc));
  } catch (err) {
    it('marks every code block that does not run', () => {
      throw err;
    });
    return;
  }
  let sandbox = '';
  let previous: { block: DocBlock; ran: Ran } | undefined;
  beforeAll(async () => {
    sandbox = await makeSandbox();
  });
  afterAll(async () => {
    if (sandbox) await rm(sandbox, { recursive: true, force: true });
  });
  blocks.forEach((block, index) => {
    const plan = block.plan;
    if (plan.kind === 'text' || plan.kind === 'not-run') return;
    it(`${where(block)} (${plan.kind === 'program' ? plan.lang : plan.kind})`, async () => {
      if (plan.kind === 'program' || plan.kind === 'shell') {
        const ran = plan.kind === 'program' ? await runProgram(block, sandbox) : await bash(`set -euo pipefail\n${block.code}`, sandbox, envFor(sandbox));
        previous = { block, ran };
        expect(ran.code, `${where(block)} failed; it printed:\n${ran.output}`).toBe(0);
      } else if (plan.kind === 'session') {
        await runSession(block, sandbox);
      } else if (plan.kind === 'output') {
        expect(previous?.block, `${where(block)}: an output block must follow the ts/js/sh block it belongs to`).toBe(blocks[index - 1]);
        const mismatch = outputMismatch(block.code, previous!.ran.output);
        if (mismatch) throw new Error(`${where(previous!.block)} printed something else than ${where(block)} shows.\n${mismatch}`);
      } else if (plan.kind === 'file') {
        const target = path.join(sandbox, plan.path);
        await mkdir(path.dirname(target), { recursive: true });
        await writeFile(target, `${block.code}\n`);
      } else {
        expect(block.code.trimEnd(), `${where(block)} differs from ${plan.path}`).toBe(read(plan.path).trimEnd());
      }
    }, BLOCK_TIMEOUT_MS);
  });
}

for (const doc of DOCS) describe(doc, () => describeDoc(doc));

describe('ts blocks', () => {
  it('type-check with tsc --strict against the built declarations', async () => {
    const blocks = DOCS.flatMap((doc) => blocksOf(doc, read(doc))).filter((b) => b.plan.kind === 'program' && b.plan.lang === 'ts');
    expect(blocks.length).toBeGreaterThan(0);
    const dir = await makeSandbox();
    try {
      await symlink(path.join(ROOT, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'), 'dir');
      const tsconfig = { compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], skipLibCheck: true }, include: ['blocks/*.ts'] };
      await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      await mkdir(path.join(dir, 'blocks'));
      for (const b of blocks) await writeFile(path.join(dir, 'blocks', `${slug(b)}.ts`), `${b.code}\nexport {};\n`);
      const ran = await bash(`exec "${process.execPath}" "${path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')}" -p .`, dir, process.env);
      expect(ran.code, `tsc --strict found errors (blocks/<doc>-<line>.ts):\n${ran.output}`).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('npm start', () => {
  it('runs the main job on the bundled example without an error (what the README tells a newcomer to run)', async () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
    const job = /^npm run build(?: --silent)? && (.+)$/.exec(start);
    expect(job, `scripts.start is "${start}": expected "npm run build --silent && <the job>"`).not.toBeNull();
    const sandbox = await makeSandbox();
    try {
      const ran = await bash(job![1]!.replace(/^node dist\/cli\.js/, 'config-persistence'), sandbox, envFor(sandbox));
      expect(ran.code, ran.output).toBe(0);
      expect(ran.output).toMatch(/valid/);
    } finally {
      await rm(sandbox, { recursive: true, force: true });
    }
  }, BLOCK_TIMEOUT_MS);
});

describe('the npm package', () => {
  it('ships every file the README links to (npm shows the README; its links must not dangle)', () => {
    const files = (JSON.parse(read('package.json')) as { files: string[] }).files;
    for (const link of linksOf(read('README.md'))) {
      const target = link.split('#')[0]!;
      if (target === '') continue;
      const top = path.normalize(target).split(path.sep)[0]!;
      expect(files.some((f) => f === top || f === target), `README.md links to ${link}, which package.json "files" does not ship`).toBe(true);
    }
  });
});
