/**
 * The YAML codec reads plain documents with js-yaml (fast) and everything else with `yaml` (the
 * parser that also gives positions and keeps comments). These properties prove the two agree:
 *
 * 1. any document, serialised to YAML by either library, parses to the same value through js-yaml's
 *    fast path and through `yaml`, and back to the original;
 * 2. any hand-written-looking YAML text (plain scalars that YAML 1.1 and 1.2 read differently,
 *    comments, flow collections, quoting, CRLF) gives the same value — or an error — through the
 *    codec as through `yaml` alone; where the codec takes the fast path, js-yaml's own answer is
 *    compared with `yaml`'s directly.
 */
import fc from 'fast-check';
import jsyaml from 'js-yaml';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { yamlCodec } from '../src/codecs/index.js';
import { fastPathApplies } from '../src/codecs/yaml.js';
import { deepEqual } from '../src/document/tree.js';

const RUNS = Number(process.env.DIFF_RUNS ?? 400);

/** Scalars whose type differs between YAML dialects, or that look like syntax. */
const TRICKY = [
  'yes', 'no', 'on', 'off', 'y', 'n', 'Y', 'true', 'True', 'TRUE', 'tRue', 'false', 'null', 'Null', 'NULL', '~', '',
  '0x1F', '0X1f', '0o17', '0O17', '017', '08', '0777', '1_000', '1__0', '0x_1', '0b101', '0B11', '0b_1',
  '1e3', '1E3', '1.e3', '1.0e+3', '+12e03', '-2E+05', '1e-3', '0e0', '.5', '5.', '-.5', '+.5', '.1e1',
  '+1', '-1', '+0', '-0', '-0.0', '00', '0_0', '+0x1', '-0x1', '+0o7', '-0o7', '+0b1',
  '.inf', '.Inf', '.INF', '-.inf', '+.inf', '.nan', '.NaN', '.NAN', 'NaN', 'Infinity', '-Infinity',
  '2001-12-14', '2001-12-14t21:59:43.10-05:00', '12:30', '1:30:00', '190:20:30', '1,000', '1.2.3',
  '<<', '=', '-', '?', ':', ',', '[]', '{}', '#', '@', '`', '%', '|', '>', "'", '"', '&a', '*a', '!t',
  'a: b', '- x', '# c', 'it\'s', 'tab\there', 'é', '😀', '\\', 'line\nbreak', ' lead', 'trail ', '__proto__', 'constructor',
];

const key = fc.oneof(fc.constantFrom(...TRICKY), fc.string({ maxLength: 8 }), fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/));
const scalar = fc.oneof(
  fc.constantFrom(...TRICKY),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(0, -0, 1e21, -1e-7, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 0.1, 1 / 3),
);
const { value: documentArb } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 5 }),
}));

/** What a parser made of a text: a value, or that it refused it. */
function outcome(parse: () => unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: parse() };
  } catch {
    return { ok: false }; // a refusal is an outcome to compare, not a test failure
  }
}

const viaJsYaml = (text: string) => jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA }) ?? null;
const viaYaml = (text: string) => YAML.parse(text, { uniqueKeys: true, logLevel: 'error' }) ?? null;

function sameOutcome(a: ReturnType<typeof outcome>, b: ReturnType<typeof outcome>): boolean {
  if (a.ok !== b.ok) return false;
  return !a.ok || deepEqual(a.value, (b as { value: unknown }).value);
}

describe('serialised documents parse identically through both parsers', () => {
  // `roundTrip`: what the library itself writes must read back as exactly the original. js-yaml's
  // dump writes a few YAML 1.1-isms (`+.5` unquoted, meaning a number in YAML 1.2): for its texts
  // the property is only that the codec reads them as `yaml` does.
  const serialisers: Array<[string, (data: unknown) => string, boolean]> = [
    ['yaml (codec, fresh file)', (data) => yamlCodec.stringify(data), true],
    ['yaml (codec, edit of an existing file)', (data) => yamlCodec.stringify(data, '# kept\nold: 1\nlist: [1, 2]\n'), true],
    ['yaml (flow style)', (data) => YAML.stringify(data, { collectionStyle: 'flow', lineWidth: 0 }), true],
    ['js-yaml dump', (data) => jsyaml.dump(data, { schema: jsyaml.CORE_SCHEMA, lineWidth: -1 }), false],
    ['js-yaml dump (flow)', (data) => jsyaml.dump(data, { schema: jsyaml.CORE_SCHEMA, flowLevel: 0, lineWidth: -1 }), false],
  ];
  for (const [name, serialise, roundTrip] of serialisers) {
    it(name, () => {
      let fast = 0;
      fc.assert(
        fc.property(documentArb, (data) => {
          const text = serialise(data);
          // js-yaml's flow dump can even write text YAML 1.2 rejects (`[a: (:]]`): compare outcomes.
          const full = outcome(() => viaYaml(text));
          if (roundTrip) expect(full.ok && deepEqual(full.value, data), `yaml read back ${JSON.stringify(text)}`).toBe(true);
          const fastResult = fastPathApplies(text) ? outcome(() => viaJsYaml(text)) : { ok: false as const };
          // js-yaml refusing is fine (the codec then asks yaml, e.g. for an unindented root block
          // scalar); accepting must mean agreeing.
          if (fastResult.ok) {
            fast++;
            expect(sameOutcome(fastResult, full), `js-yaml vs yaml on ${JSON.stringify(text)}`).toBe(true);
          }
          expect(sameOutcome(outcome(() => yamlCodec.parse(text)), full), `codec vs yaml on ${JSON.stringify(text)}`).toBe(true);
        }),
        { numRuns: RUNS },
      );
      // The property is only worth something if the fast path is actually taken.
      expect(fast).toBeGreaterThan(RUNS / 4);
    });
  }
});

/** A plain scalar as a human would type it (unquoted), or a quoted one. */
const plain = fc.oneof(
  fc.constantFrom(...TRICKY.filter((t) => !/[\n\t]/.test(t) && t.trim() === t && t !== '')),
  fc.stringMatching(/^[A-Za-z0-9_.+-]{1,8}$/),
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
  fc.string({ maxLength: 6 }).map((s) => `'${s.replace(/'/g, "''").replace(/\n/g, ' ')}'`),
);
const plainKey = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), fc.constantFrom('1', '0x1F', 'true', 'null', '-0', '1_0', '.5', 'on', '"quoted key"', "'single'"));
const comment = fc.oneof(fc.constant(''), fc.stringMatching(/^[ a-z]{0,10}$/).map((c) => ` # ${c}`));

/** Block YAML text: nested mappings and sequences with plain scalars, comments, blank lines. */
const { node: blockArb } = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('map'), tie('seq'), tie('flow')),
  map: fc.array(fc.tuple(plainKey, fc.oneof(plain, tie('node')), comment), { minLength: 1, maxLength: 4 }).map((entries) => ({ kind: 'map' as const, entries })),
  seq: fc.array(fc.tuple(fc.oneof(plain, tie('node')), comment), { minLength: 1, maxLength: 4 }).map((items) => ({ kind: 'seq' as const, items })),
  flow: fc.array(plain, { maxLength: 4 }).map((items) => ({ kind: 'flow' as const, items })),
}));

type Block = { kind: 'map'; entries: Array<[string, unknown, string]> } | { kind: 'seq'; items: Array<[unknown, string]> } | { kind: 'flow'; items: string[] };

function render(node: unknown, indent: number): string[] {
  const pad = ' '.repeat(indent);
  if (typeof node === 'string') return [node];
  const block = node as Block;
  if (block.kind === 'flow') return [`[${block.items.join(', ')}]`];
  const lines: string[] = [];
  if (block.kind === 'map') {
    for (const [k, v, c] of block.entries) {
      const inner = render(v, indent + 2);
      if (typeof v === 'string' || (v as Block).kind === 'flow') lines.push(`${pad}${k}: ${inner[0]}${c}`);
      else lines.push(`${pad}${k}:${c}`, ...inner);
    }
  } else {
    for (const [v, c] of block.items) {
      const inner = render(v, indent + 2);
      if (typeof v === 'string' || (v as Block).kind === 'flow') lines.push(`${pad}- ${inner[0]}${c}`);
      else lines.push(`${pad}-${c}`, ...inner);
    }
  }
  return lines;
}

describe('hand-written YAML gives the same result through the codec as through yaml alone', () => {
  it('block and flow collections with plain, quoted and tricky scalars', () => {
    let fast = 0;
    fc.assert(
      fc.property(blockArb, fc.boolean(), fc.boolean(), (node, crlf, blankLines) => {
        let lines = render(node, 0);
        if (blankLines) lines = lines.flatMap((l, i) => (i % 2 ? ['', l] : [l]));
        const text = `# generated\n${lines.join('\n')}\n`.replace(/\n/g, crlf ? '\r\n' : '\n');
        const reference = outcome(() => viaYaml(text));
        if (fastPathApplies(text)) {
          const fastResult = outcome(() => viaJsYaml(text));
          // js-yaml refusing is fine (the codec then asks yaml); accepting must mean agreeing.
          if (fastResult.ok) {
            fast++;
            expect(sameOutcome(fastResult, reference), `js-yaml vs yaml on ${JSON.stringify(text)}`).toBe(true);
          }
        }
        expect(sameOutcome(outcome(() => yamlCodec.parse(text)), reference), `codec vs yaml on ${JSON.stringify(text)}`).toBe(true);
      }),
      { numRuns: RUNS * 2 },
    );
    expect(fast).toBeGreaterThan(RUNS / 4);
  });

  it('every tricky scalar, alone, as a value, a key and a list item', () => {
    for (const token of TRICKY) {
      for (const text of [`${token}\n`, `k: ${token}\n`, `${token}: v\n`, `- ${token}\n`, `[${token}]\n`, `{a: ${token}}\n`]) {
        expect(sameOutcome(outcome(() => yamlCodec.parse(text)), outcome(() => viaYaml(text))), JSON.stringify(text)).toBe(true);
      }
    }
  });
});
