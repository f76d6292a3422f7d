/**
 * docs/<feature>.md are generated from the README's sections (scripts/docs.mjs): this fails when the
 * README changed and docs/ was not regenerated, and checks that every relative link in the README and
 * in docs/ points at a file that exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/tmp.js';
// @ts-expect-error: a plain ESM script without types
import { expectedDocs, SECTIONS } from '../scripts/docs.mjs';

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('docs/', () => {
  it('holds exactly the README sections scripts/docs.mjs makes of it (run `node scripts/docs.mjs` after editing the README)', () => {
    const docs = expectedDocs(readme) as Array<{ file: string; text: string }>;
    expect(docs.map((d) => d.file).sort()).toEqual(Object.keys(SECTIONS).sort());
    for (const { file, text } of docs) expect(readFileSync(path.join(ROOT, 'docs', file), 'utf8'), file).toBe(text);
  });

  it('every relative link of the README and of docs/ leads to a file that exists', () => {
    const files = ['README.md', ...Object.keys(SECTIONS).map((f) => `docs/${f}`), 'docs/benchmarks.md'];
    for (const file of files) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\((?!https?:|mailto:|#)([^)\s#]+)(?:#[^)]*)?\)/g)) {
        expect(existsSync(path.resolve(ROOT, path.dirname(file), target!)), `${file} → ${target}`).toBe(true);
      }
    }
  });
});
