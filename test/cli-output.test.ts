import { describe, expect, it } from 'vitest';
import { colorEnabled, formatSize, formatValue, jsonText, leaves, palette, relativeTime, sanitize, table, terminalText, visibleWidth } from '../src/cli/output.js';
import { parseCliValue } from '../src/cli/values.js';

describe('CLI output formatting', () => {
  it('formats sizes in binary units', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023)).toBe('1023 B');
    expect(formatSize(1024)).toBe('1.0 KiB');
    expect(formatSize(12_700)).toBe('12.4 KiB');
    expect(formatSize(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(formatSize(500 * 1024 * 1024)).toBe('500 MiB');
  });

  it('formats relative times', () => {
    const now = Date.parse('2026-11-23T12:00:00Z');
    expect(relativeTime('2026-11-23T11:59:58Z', now)).toBe('just now');
    expect(relativeTime('2026-11-23T11:59:18Z', now)).toBe('42 s ago');
    expect(relativeTime('2026-11-23T11:57:00Z', now)).toBe('3 min ago');
    expect(relativeTime('2026-11-23T07:00:00Z', now)).toBe('5 h ago');
    expect(relativeTime('2026-11-22T11:00:00Z', now)).toBe('1 day ago');
    expect(relativeTime('2026-11-20T11:00:00Z', now)).toBe('3 days ago');
    expect(relativeTime('2026-01-02T00:00:00Z', now)).toBe('2026-01-02');
    expect(relativeTime('2026-11-23T12:03:00Z', now)).toBe('in 3 min');
    expect(relativeTime('not a date', now)).toBe('not a date');
  });

  it('aligns table columns, right-aligns numbers and leaves no trailing spaces', () => {
    const rows = [
      { id: 'a', size: 5, note: 'x' },
      { id: 'longer-id', size: 12_345, note: '' },
    ];
    const text = table(rows, [
      { header: 'ID', value: (r) => r.id },
      { header: 'SIZE', value: (r) => String(r.size), align: 'right' },
      { header: 'NOTE', value: (r) => r.note },
    ]);
    expect(text.split('\n')).toEqual(['ID          SIZE  NOTE', 'a              5  x', 'longer-id  12345']);
  });

  it('measures width without colour codes, so coloured tables stay aligned', () => {
    const p = palette(true);
    expect(p.red('abc')).not.toBe('abc');
    expect(visibleWidth(p.red('abc'))).toBe(3);
    const text = table([{ a: p.green('ok'), b: 'x' }, { a: 'fail', b: 'y' }], [
      { header: 'A', value: (r) => r.a },
      { header: 'B', value: (r) => r.b },
    ], p);
    const [, first, second] = text.split('\n');
    expect(visibleWidth(first!)).toBe(visibleWidth(second!));
  });

  it('turns colour off with NO_COLOR, --no-color or without a terminal', () => {
    expect(colorEnabled({ isTTY: true }, {}, undefined)).toBe(true);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' }, undefined)).toBe(false);
    expect(colorEnabled({ isTTY: true }, {}, false)).toBe(false);
    expect(colorEnabled({ isTTY: false }, {}, undefined)).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' }, undefined)).toBe(true);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' }, undefined)).toBe(false);
    expect(palette(false).red('x')).toBe('x');
  });

  it('neutralises terminal escape sequences coming from config values', () => {
    expect(sanitize('a\u001b]0;pwned\u0007b')).toBe('a\\e]0;pwned\\x07b');
    expect(formatValue('\u001b[2J')).not.toContain('\u001b');
  });

  it('colour comes only from the palette: a colour code in data is escaped like any control character', () => {
    const p = palette(true);
    const text = terminalText(`${p.red('ours')} \u001b[31mtheirs\u001b[0m \u009b2J \u202e`);
    expect(text).toBe('\u001b[31mours\u001b[39m \\e[31mtheirs\\e[0m \\x9b2J \\u202e');
    // Styles are plain text until written: no table cell or pair can carry a raw sequence.
    expect(p.red('x')).not.toContain('\u001b');
    expect(terminalText(table([{ a: 'x\ty\nz' }], [{ header: 'A', value: (r) => r.a }]))).toBe('A\nx\\ty\\nz');
    expect(JSON.parse(jsonText(JSON.stringify({ v: '\u007f\u009b\u202e' })))).toEqual({ v: '\u007f\u009b\u202e' });
    expect(jsonText(JSON.stringify('\u009b'))).toBe('"\\u009b"');
  });

  it('shows values so their type is visible', () => {
    expect(formatValue(8080)).toBe('8080');
    expect(formatValue('8080')).toBe('"8080"');
    expect(formatValue('shop')).toBe('shop');
    expect(formatValue(null)).toBe('null');
    expect(formatValue(['a', 'b'])).toBe('["a","b"]');
    expect(formatValue('x'.repeat(100), 10)).toHaveLength(10);
  });

  it('flattens documents into dot-path leaves in document order', () => {
    expect(leaves({ a: { b: 1, c: [1, 2] }, d: {}, e: null })).toEqual([
      ['a.b', 1],
      ['a.c', [1, 2]],
      ['d', {}],
      ['e', null],
    ]);
  });
});

describe('CLI values (set parses YAML scalars)', () => {
  it('parses numbers, booleans and null, and keeps other text as typed', () => {
    expect(parseCliValue('8080')).toBe(8080);
    expect(parseCliValue('-1.5')).toBe(-1.5);
    expect(parseCliValue('true')).toBe(true);
    expect(parseCliValue('null')).toBe(null);
    expect(parseCliValue('~')).toBe(null);
    expect(parseCliValue('hello world')).toBe('hello world');
    expect(parseCliValue('a # not a comment')).toBe('a # not a comment');
    expect(parseCliValue('key: value')).toBe('key: value');
    expect(parseCliValue('')).toBe('');
    expect(parseCliValue('yes')).toBe('yes');
  });

  it('parses quoted strings and flow collections', () => {
    expect(parseCliValue('"8080"')).toBe('8080');
    expect(parseCliValue("'true'")).toBe('true');
    expect(parseCliValue('[a, 2]')).toEqual(['a', 2]);
    expect(parseCliValue('{x: 1}')).toEqual({ x: 1 });
  });

  it('keeps integers beyond 2^53 as strings instead of losing digits', () => {
    expect(parseCliValue('12345678901234567890')).toBe('12345678901234567890');
  });

  it('rejects malformed flow values as bad usage', () => {
    expect(() => parseCliValue('[a, b')).toThrow(expect.objectContaining({ code: 'E_USAGE', exitCode: 2 }));
  });
});
