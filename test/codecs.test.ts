import { describe, expect, it, vi } from 'vitest';
import { CodecRegistry, jsonCodec, yamlCodec } from '../src/codecs/index.js';
import { ConfigPersistenceError } from '../src/errors.js';

const registry = new CodecRegistry();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ConfigPersistenceError ? err.code : `not coded: ${String(err)}`;
  }
  return undefined;
}

describe('codec registry', () => {
  it('picks codecs by extension and falls back to JSON for unknown ones', () => {
    expect(registry.forFile('a.yaml')).toBe(yamlCodec);
    expect(registry.forFile('a.YML')).toBe(yamlCodec);
    expect(registry.forFile('a.json')).toBe(jsonCodec);
    expect(registry.forFile('a.conf')).toBe(jsonCodec);
  });

  it('accepts user codecs', () => {
    const ini = new CodecRegistry([
      {
        extensions: ['kv'],
        parse: (text) => Object.fromEntries(text.trim().split('\n').map((l) => l.split('='))),
        stringify: (data) => Object.entries(data as Record<string, string>).map(([k, v]) => `${k}=${v}`).join('\n'),
      },
    ]);
    expect(ini.parse('x.kv', 'a=1\nb=2')).toEqual({ a: '1', b: '2' });
    expect(Buffer.from(ini.encode('x.kv', { a: '1' })).toString()).toBe('a=1');
  });
});

describe('JSON', () => {
  it('reports syntax errors with line and column', () => {
    const text = '{\n  "a": 1,\n  "b": ,\n}';
    try {
      registry.parse('config/current.json', text);
      expect.unreachable();
    } catch (err) {
      const e = err as { code: string; line: number; column: number; message: string };
      expect(e.code).toBe('E_PARSE');
      expect(e.line).toBe(3);
      expect(e.column).toBe(8);
      expect(e.message).toContain('config/current.json:3:8');
    }
  });

  it('reports an empty file as a parse error', () => {
    expect(codeOf(() => registry.parse('a.json', ''))).toBe('E_PARSE');
  });

  it('accepts a UTF-8 BOM', () => {
    expect(registry.parse('a.json', '\uFEFF{"a":1}')).toEqual({ a: 1 });
  });

  it('rejects invalid UTF-8 with a position', () => {
    const bytes = Buffer.concat([Buffer.from('{"a":\n"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    try {
      registry.decode('a.json', bytes);
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('E_PARSE');
      expect((err as { line: number }).line).toBe(2);
    }
  });

  it('keeps indentation, key order and the final newline of the previous text', () => {
    const previous = '{\n    "b": 1,\n    "a": {\n        "y": 1,\n        "x": 2\n    }\n}\n';
    const out = jsonCodec.stringify({ a: { x: 3, y: 1, z: 0 }, b: 1, c: true }, previous);
    expect(out).toBe('{\n    "b": 1,\n    "a": {\n        "y": 1,\n        "x": 3,\n        "z": 0\n    },\n    "c": true\n}\n');
    const tabs = jsonCodec.stringify({ a: 1 }, '{\n\t"a": 0\n}');
    expect(tabs).toBe('{\n\t"a": 1\n}');
  });

  it('saves of several files in turn neither parse nor print again a text it made (only the new document is printed)', () => {
    const files = Array.from({ length: 16 }, (_, f) => ({ file: f, items: Array.from({ length: 20 }, (_, i) => ({ i, name: `item-${i}` })) }));
    let texts = files.map((doc) => jsonCodec.stringify(doc, '{}\n'));
    const parse = vi.spyOn(JSON, 'parse');
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      for (let round = 1; round <= 3; round++) texts = files.map((doc, f) => jsonCodec.stringify({ ...doc, round }, texts[f]));
      expect(parse).not.toHaveBeenCalled();
      expect(stringify).toHaveBeenCalledTimes(3 * files.length);
    } finally {
      parse.mockRestore();
      stringify.mockRestore();
    }
    expect(JSON.parse(texts[5]!)).toEqual({ ...files[5], round: 3 });
  });

  it('locates values for messages', () => {
    const text = '{\n  "api": {\n    "port": 99999\n  },\n  "list": [1, 2]\n}';
    expect(jsonCodec.locate!(text, ['api', 'port'])).toEqual({ line: 3, column: 5 });
    expect(jsonCodec.locate!(text, ['list', 1])).toEqual({ line: 5, column: 15 });
    expect(jsonCodec.locate!(text, ['missing'])).toBeUndefined();
  });

  it('refuses documents nested deeper than the limit', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    expect(codeOf(() => registry.parse('a.json', deep))).toBe('E_TOO_LARGE');
  });

  it('keeps __proto__ as plain data without polluting prototypes', () => {
    const data = registry.parse('a.json', '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}') as Record<string, unknown>;
    expect(Object.keys(data)).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const out = Buffer.from(registry.encode('a.json', data, '{}')).toString();
    expect(JSON.parse(out)).toEqual(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('YAML', () => {
  it('parses plain documents and documents with anchors identically to the data', () => {
    expect(registry.parse('a.yaml', 'a: 1\nb: [x, y]\nc: {d: null}\n')).toEqual({ a: 1, b: ['x', 'y'], c: { d: null } });
    expect(registry.parse('a.yaml', 'base: &b {x: 1}\nother: *b\n')).toEqual({ base: { x: 1 }, other: { x: 1 } });
    expect(registry.parse('a.yaml', '')).toBeNull();
  });

  it('reports syntax errors with line and column', () => {
    try {
      registry.parse('config/current.yaml', 'a: 1\nb:\n  c: [1, 2\n');
      expect.unreachable();
    } catch (err) {
      const e = err as { code: string; line?: number; message: string };
      expect(e.code).toBe('E_PARSE');
      expect(e.line).toBeGreaterThanOrEqual(3);
      expect(e.message).toMatch(/config\/current\.yaml:\d+:\d+/);
    }
  });

  it('rejects duplicate keys', () => {
    expect(codeOf(() => registry.parse('a.yaml', 'a: 1\na: 2\n'))).toBe('E_PARSE');
  });

  it('refuses alias bombs', () => {
    const bomb = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    ].join('\n');
    expect(codeOf(() => registry.parse('bomb.yaml', bomb))).toBe('E_TOO_LARGE');
  });

  it('refuses multiple documents in one file', () => {
    expect(codeOf(() => registry.parse('a.yaml', 'a: 1\n---\nb: 2\n'))).toBe('E_PARSE');
  });

  it('keeps comments, blank lines and key order when the data changes', () => {
    const previous = [
      '# Server settings',
      'server:',
      '  host: localhost # where to listen',
      '  port: 8080',
      '',
      '# Logging',
      'logging:',
      '  level: info',
      '  outputs:',
      '    - stdout',
      '    - file',
      '',
    ].join('\n');
    const out = yamlCodec.stringify(
      { server: { host: 'localhost', port: 9090 }, logging: { level: 'debug', outputs: ['stdout'] }, extra: { on: true } },
      previous,
    );
    expect(out).toBe(
      [
        '# Server settings',
        'server:',
        '  host: localhost # where to listen',
        '  port: 9090',
        '',
        '# Logging',
        'logging:',
        '  level: debug',
        '  outputs:',
        '    - stdout',
        'extra:',
        '  on: true',
        '',
      ].join('\n'),
    );
  });

  it('quotes strings that would otherwise change type', () => {
    const out = yamlCodec.stringify({ port: '8080', flag: 'true' }, 'port: 1\nflag: false\n');
    expect(registry.parse('a.yaml', out)).toEqual({ port: '8080', flag: 'true' });
  });

  it('locates keys for messages', () => {
    const text = 'api:\n  port: 99999\nlist:\n  - a\n  - b\n';
    expect(yamlCodec.locate!(text, ['api', 'port'])).toEqual({ line: 2, column: 3 });
    expect(yamlCodec.locate!(text, ['list', 1])).toEqual({ line: 5, column: 5 });
  });
});
