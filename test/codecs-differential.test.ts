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
import { FAST_PATH_SCHEMA } from '../src/codecs/yaml-fast-path.js';
import { readValue } from '../src/codecs/yaml-read.js';
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

const viaJsYaml = (text: string) => jsyaml.load(text, { schema: FAST_PATH_SCHEMA }) ?? null;
// `yaml` as the codec reads with it (merge keys, keys unique by loaded name, explicit tags, one
// %YAML directive, alias expansion bounded): src/codecs/yaml-read.ts.
const viaYaml = (text: string) => readValue(text);

function sameOutcome(a: ReturnType<typeof outcome>, b: ReturnType<typeof outcome>): boolean {
  if (a.ok !== b.ok) return false;
  return !a.ok || deepEqual(a.value, (b as { value: unknown }).value);
}

describe('serialised documents parse identically through both parsers', () => {
  // `roundTrip`: what the library itself writes must read back as exactly the original (a "<<" key
  // only when the library wrote it: other writers print it plain, and plain `<<` is a merge key). js-yaml's
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
          if (roundTrip && !text.includes('<<')) expect(full.ok && deepEqual(full.value, data), `yaml read back ${JSON.stringify(text)}`).toBe(true);
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

/**
 * Mutations of valid texts, most of them invalid YAML: a character a human mistypes (indicators,
 * quotes, tabs, spaces, line breaks) inserted, deleted or doubled, a line indented by one more or
 * less, a line's indentation turned into a tab, two lines joined. The codec must refuse exactly
 * what `yaml` (strict YAML 1.2, with the codec's reading options: src/codecs/yaml-read.ts) refuses,
 * and read the rest identically — whichever of its two parsers reads it.
 */
const MUTATION_CHARS = ['#', ':', '-', '[', ']', '{', '}', '"', "'", '\t', ' ', '\n', '|', '>', ',', '?', '%', '\\', '---', '...', ' #x', '# '];
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...MUTATION_CHARS) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('indent' as const), at: fc.nat(), delta: fc.constantFrom(-2, -1, 1, 2, 3) }),
  fc.record({ kind: fc.constant('tab' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('join' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('double' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(text: string, m: Mutation): string {
  const at = text.length === 0 ? 0 : m.at % text.length;
  const lines = text.split('\n');
  const line = m.at % Math.max(1, lines.length);
  switch (m.kind) {
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.length);
    case 'indent':
      lines[line] = m.delta > 0 ? ' '.repeat(m.delta) + lines[line] : lines[line]!.replace(new RegExp(`^ {0,${-m.delta}}`), '');
      return lines.join('\n');
    case 'tab':
      lines[line] = lines[line]!.replace(/^ +/, '\t');
      return lines.join('\n');
    case 'join':
      return line + 1 < lines.length ? [...lines.slice(0, line), `${lines[line]} ${lines[line + 1]!.trimStart()}`, ...lines.slice(line + 2)].join('\n') : text;
    case 'double':
      lines.splice(line, 0, lines[line]!);
      return lines.join('\n');
  }
}

describe('mutated (mostly invalid) YAML is refused by the codec exactly when yaml refuses it', () => {
  const valid = fc.oneof(
    blockArb.map((node) => `${render(node, 0).join('\n')}\n`),
    documentArb.map((data) => yamlCodec.stringify(data)),
    documentArb.map((data) => YAML.stringify(data, { collectionStyle: 'flow', lineWidth: 0 })),
    fc.constantFrom(
      'a: |\n  line one\n  line two\nb: >-\n  folded\n  text\n',
      '--- # doc\nkey: value\nlist:\n- a\n- b\n',
      'a: [1, 2, 3] # c\nb: {x: "y", z: \'w\'}\nc: "q" # d\n',
      'server:\n  host: "0.0.0.0"   # bind all\n  ports:\n    - 80\n    - 443\n',
      '%YAML 1.2\n---\na: 1\n',
    ),
  );
  it('over generated mutations of valid texts', () => {
    const counts = { generated: 0, refusedByYaml: 0, acceptedByYaml: 0, fastPath: 0, fastPathRefusals: 0 };
    fc.assert(
      fc.property(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }), (text, mutations) => {
        const mutated = mutations.reduce(mutate, text);
        counts.generated++;
        const reference = outcome(() => readValue(mutated));
        if (reference.ok) counts.acceptedByYaml++;
        else counts.refusedByYaml++;
        if (fastPathApplies(mutated)) {
          counts.fastPath++;
          if (!reference.ok) counts.fastPathRefusals++;
        }
        expect(sameOutcome(outcome(() => yamlCodec.parse(mutated)), reference), `codec vs yaml on ${JSON.stringify(mutated)}`).toBe(true);
      }),
      { numRuns: RUNS * 5 },
    );
    console.log(`invalid-YAML differential: ${JSON.stringify(counts)}`);
    // Worth something only if many inputs are invalid and the fast path meets some of them.
    expect(counts.refusedByYaml).toBeGreaterThan(RUNS / 2);
    expect(counts.fastPathRefusals).toBeGreaterThan(RUNS / 20);
  });

  it('the constructs YAML 1.2 forbids that js-yaml takes', () => {
    const invalid = [
      'a: [1, 2]# c\n', 'a: "x"# c\n', "a: 'x'# c\n", 'a: {b: 1}# c\n', '[a,#c\n]\n',
      'a: [1,\n2]\n', 'a:\n  b: [1,\n  2]\n', '- [1,\n2]\n', 'a: {x: 1,\ny: 2}\n',
      '--- a: 1\n  b: 2\n',
      'a: |\n    \n  x\n',
      'a: [\n\t1]\n', 'a: |\n\tx\n', 'a:\n\tb: 1\n',
      '%YAML 1.2\n%YAML 1.2\n---\na: 1\n',
    ];
    for (const text of invalid) {
      expect(outcome(() => readValue(text)).ok, `yaml refuses ${JSON.stringify(text)}`).toBe(false);
      expect(outcome(() => yamlCodec.parse(text)).ok, `codec refuses ${JSON.stringify(text)}`).toBe(false);
    }
  });

  it('a null-like key of a one-pair mapping inside a flow sequence reads as yaml reads it', () => {
    // Found by the mutation property (seed -1204332748): js-yaml named the key "null", yaml "".
    for (const text of ['[ [ null: ] ]\n', '[null: 1]\n', '[~: x, 2]\n', 'a: [NULL: 1]\n', '- [Null: ]\n']) {
      expect(sameOutcome(outcome(() => yamlCodec.parse(text)), outcome(() => readValue(text))), `codec vs yaml on ${JSON.stringify(text)}`).toBe(true);
    }
  });
});
