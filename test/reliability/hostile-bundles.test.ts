/**
 * Tampered backups and bundles: a changed byte is caught by the checksum (E_CHECKSUM) before
 * anything is written; a bundle whose checksums were recomputed by whoever tampered with it (a
 * checksum is not a signature) still cannot name a file outside the base directory, pollute a
 * prototype or smuggle in invalid data. Every refusal leaves the directory exactly as it was.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { walkFiles } from './lib.js';

const { ConfigPersistence, canonicalJson } = (await import(DIST)) as typeof import('../../src/index.js');

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
afterEach(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

/** Every file under `dir` with its hash: "nothing changed" means this is equal before and after. */
function tree(dir: string): Record<string, string> {
  return Object.fromEntries(walkFiles(dir).filter((f) => !f.startsWith('.locks/')).map((f) => [f, sha(readFileSync(path.join(dir, f)))]));
}

/** Recomputes item and envelope checksums, as someone tampering on purpose would. */
function resign(bundle: Record<string, any>): Record<string, any> {
  for (const item of bundle.items) item.sha256 = sha(canonicalJson(item.data));
  bundle.itemCount = bundle.items.length;
  const { checksum: _old, ...body } = bundle;
  return { ...body, checksum: sha(canonicalJson(body)) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? `uncoded ${String(err)}`;
  }
}

async function setup() {
  const root = await tempDir('cp-tamper-');
  const base = path.join(root, 'config');
  const cp = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas') });
  await cp.saveConfig({ api: { port: 8080 } }, 'current.json');
  await cp.saveProfile('dev', { api: { port: 3000 } });
  const bundle = JSON.parse(JSON.stringify(await cp.exportBundle())) as Record<string, any>;
  await cp.saveConfig({ api: { port: 9090 } }, 'current.json'); // the bundle now differs from the directory
  return { root, base, cp, bundle };
}

describe('tampered backups', () => {
  it('a backup changed on disk is refused by restore (E_CHECKSUM) and nothing is written', async () => {
    const { base, cp } = await setup();
    const [backup] = await cp.listBackups('current.json');
    const file = path.join(base, 'backups', backup!.id);
    for (const tamper of [(t: string) => t.replace('8080', '8081'), (t: string) => t.slice(0, t.length - 3), () => '']) {
      writeFileSync(file, tamper(readFileSync(file, 'utf8')));
      const before = tree(base);
      expect(await codeOf(cp.restoreBackup(backup!.id))).toBe('E_CHECKSUM');
      expect(tree(base)).toEqual(before);
    }
    expect(await cp.loadConfig('current.json')).toEqual({ api: { port: 9090 } });
    await cp.close();
  });

  it('a compressed backup changed on disk (gzip or content) is refused too', async () => {
    const root = await tempDir('cp-tamper-');
    const base = path.join(root, 'config');
    const cp = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas'), compressBackups: true });
    await cp.saveConfig({ v: 1 }, 'current.json');
    await cp.saveConfig({ v: 2 }, 'current.json');
    const [backup] = await cp.listBackups('current.json');
    const file = path.join(base, 'backups', backup!.id);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(file, bytes);
    const before = tree(base);
    expect(['E_CHECKSUM', 'E_PARSE']).toContain(await codeOf(cp.restoreBackup(backup!.id)));
    expect(tree(base)).toEqual(before);
    await cp.close();
  });
});

describe('tampered bundles', () => {
  it('a changed item, envelope or count is refused with E_CHECKSUM and nothing is written', async () => {
    const { base, cp, bundle } = await setup();
    const tampered: Array<Record<string, any>> = [
      { ...bundle, items: bundle.items.map((i: any) => (i.name === 'current' ? { ...i, data: { api: { port: 1 } } } : i)) },
      { ...bundle, exportedAt: '2000-01-01T00:00:00.000Z' },
      { ...bundle, items: bundle.items.slice(1) },
      { ...bundle, checksum: '0'.repeat(64) },
      { ...bundle, items: bundle.items.map((i: any) => ({ ...i, sha256: sha('x') })) },
    ];
    const before = tree(base);
    for (const [i, b] of tampered.entries()) {
      expect(await codeOf(cp.importBundle(b as never, { onConflict: 'overwrite' })), `tampering #${i}`).toBe('E_CHECKSUM');
      expect(tree(base), `tampering #${i}`).toEqual(before);
    }
    await cp.close();
  });

  it('a bundle file that is truncated, not JSON or not a bundle is refused with a coded error', async () => {
    const { root, base, cp } = await setup();
    const file = path.join(root, 'bundle.json');
    await cp.writeBundle(file);
    const text = readFileSync(file, 'utf8');
    const before = tree(base);
    for (const [i, content] of [text.slice(0, text.length / 2), '', 'not json', '[]', '{"format":"something-else"}', 'null', JSON.stringify({ ...JSON.parse(text), items: 'x' })].entries()) {
      writeFileSync(file, content);
      const code = await codeOf(cp.importBundle(file, { onConflict: 'overwrite' }));
      expect(['E_PARSE', 'E_CHECKSUM', 'E_VALIDATION'], `bundle #${i}: ${code}`).toContain(code);
      expect(tree(base)).toEqual(before);
    }
    await cp.close();
  });

  it('re-signed bundles with hostile names, prototype keys or bad data cannot escape, pollute or half-import', async () => {
    const { root, base, cp, bundle } = await setup();
    const sentinel = path.join(root, 'outside.json');
    writeFileSync(sentinel, '{"outside":true}');
    const item = (over: Record<string, unknown>) => ({ ...bundle.items[0], ...over });
    const hostile = [
      item({ name: '../outside' }),
      item({ name: '../../etc/passwd' }),
      item({ name: '/tmp/evil' }),
      item({ name: 'a/b' }),
      item({ name: '..' }),
      item({ name: 'a\0b' }),
      item({ name: 'x'.repeat(300) }),
      item({ kind: 'profile', name: '../../outside' }),
      item({ kind: 'weird' }),
      item({ format: '../json' }),
      item({ format: 'json/../../x' }),
    ];
    const before = tree(base);
    for (const [i, bad] of hostile.entries()) {
      // One good item first: an import is all-or-nothing, so it must not land either.
      const b = resign({ ...bundle, items: [item({ name: 'fresh' }), bad] });
      const code = await codeOf(cp.importBundle(b as never, { onConflict: 'overwrite' }));
      expect(['E_INVALID_NAME', 'E_VALIDATION', 'E_PARSE', 'E_CHECKSUM'], `hostile item #${i} (${JSON.stringify(bad.name)}/${bad.kind}/${bad.format}): ${code}`).toContain(code);
      expect(tree(base), `hostile item #${i}`).toEqual(before);
    }
    expect(readFileSync(sentinel, 'utf8')).toBe('{"outside":true}');
    expect(walkFiles(root).filter((f) => !f.startsWith('config/'))).toEqual(['outside.json']);

    // Control: the same re-signed bundle without the hostile item imports (so the checks above
    // refused the hostile item, not the re-signing).
    await cp.importBundle(resign({ ...bundle, items: [item({ name: 'fresh' })] }) as never, { onConflict: 'overwrite' });
    expect(await cp.loadConfig('fresh.json')).toEqual(bundle.items[0].data);

    // Prototype keys inside item data stay data.
    const polluting = resign({
      ...bundle,
      items: [item({ name: 'proto', data: JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') })],
    });
    await cp.importBundle(polluting as never, { onConflict: 'overwrite' });
    const loaded = (await cp.loadConfig('proto.json')) as Record<string, unknown>;
    expect(Object.hasOwn(loaded, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
    await cp.close();
  });
});
