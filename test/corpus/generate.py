#!/usr/bin/env python3
"""Writes the hostile-input corpus (json/, yaml/) and manifest.json, the expected outcome of each file.

Run from this directory: python3 generate.py. The files are committed; this script documents how
they were made and regenerates them. Expected outcomes:
  {"code": C}           loading fails with coded error C
  {"code-in": [C, D]}   loading fails with one of these codes
  {"ok": value}         loading succeeds with exactly this value
  {"ok": "name"}        loading succeeds; the test checks it with the named check
  {"ok-or-code": [C]}   either a plain-data result or one of these codes (never code execution)
"""
import json

m = {}
def case(p, data, expect):
    with open(p, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode('utf-8'))
    m[p] = expect

P = 'E_PARSE'; T = 'E_TOO_LARGE'
# JSON: malformed shapes
case('json/empty.json', '', {'code': P})
case('json/whitespace-only.json', '  \n\t\n', {'code': P})
case('json/trailing-comma-object.json', '{"a": 1,}', {'code': P})
case('json/trailing-comma-array.json', '{"a": [1, 2,]}', {'code': P})
case('json/unterminated-string.json', '{"a": "abc', {'code': P})
case('json/unclosed-object.json', '{"a": {"b": 1}', {'code': P})
case('json/unclosed-array.json', '[1, 2, 3', {'code': P})
case('json/extra-closing.json', '{"a": 1}}', {'code': P})
case('json/two-values.json', '{"a": 1}\n{"b": 2}', {'code': P})
case('json/single-quotes.json', "{'a': 1}", {'code': P})
case('json/unquoted-key.json', '{a: 1}', {'code': P})
case('json/comments.json', '{\n  // comment\n  "a": 1\n}', {'code': P})
case('json/nan.json', '{"a": NaN}', {'code': P})
case('json/infinity.json', '{"a": Infinity}', {'code': P})
case('json/hex-number.json', '{"a": 0x10}', {'code': P})
case('json/leading-zero.json', '{"a": 007}', {'code': P})
case('json/raw-newline-in-string.json', '{"a": "line\nbreak"}', {'code': P})
case('json/bad-escape.json', '{"a": "\\x41"}', {'code': P})
case('json/truncated-escape.json', '{"a": "\\u12', {'code': P})
case('json/control-char.json', '{"a": "\x01"}', {'code': P})
case('json/nul-byte.json', b'{"a": 1}\x00', {'code': P})
case('json/binary-garbage.json', bytes(range(256)) * 4, {'code': P})
case('json/html.json', '<!DOCTYPE html><html></html>', {'code': P})
case('json/yaml-in-json.json', 'a: 1\nb: 2\n', {'code': P})
case('json/just-a-comma.json', ',', {'code': P})
# JSON: valid but unusual
case('json/bom.json', '\ufeff{"a": 1}', {'ok': {'a': 1}})
case('json/duplicate-keys.json', '{"a": 1, "a": 2}', {'code': P})  # like YAML: a duplicate is a mistake, not last-wins
case('json/lone-surrogate-escape.json', '{"a": "\\ud800"}', {'ok': 'lone-surrogate'})
case('json/big-number.json', '{"a": 1e400, "b": -1e400}', {'ok': 'infinite-numbers'})
case('json/unicode-keys.json', '{"ключ": "значение", "🔑": "✓", "\\u202e": "rtl"}', {'ok': {'ключ': 'значение', '🔑': '✓', '\u202e': 'rtl'}})
case('json/scalar-root.json', '42', {'ok': 42})
case('json/null-root.json', 'null', {'ok': None})
case('json/array-root.json', '[1, "two", null]', {'ok': [1, 'two', None]})
case('json/long-string.json', json.dumps({'a': 'x' * 100000}), {'ok': 'long-string'})
case('json/many-keys.json', json.dumps({f'k{i}': i for i in range(5000)}), {'ok': 'many-keys'})
# Invalid UTF-8 and other encodings
case('json/invalid-utf8.json', b'{"a": "\xff\xfe\xfd"}', {'code': P})
case('json/overlong-utf8.json', b'{"a": "\xc0\xaf"}', {'code': P})
case('json/truncated-utf8.json', b'{"a": "\xe2\x82"}', {'code': P})
case('json/utf16le-bom.json', '\ufeff{"a": 1}'.encode('utf-16-le'), {'code': P})
case('json/utf16be.json', '{"a": 1}'.encode('utf-16-be'), {'code': P})
# Depth
case('json/deep-array-100k.json', '[' * 100000 + ']' * 100000, {'code': T})
case('json/deep-object-100k.json', '{"a":' * 100000 + '1' + '}' * 100000, {'code': T})
case('json/deep-300.json', '[' * 300 + ']' * 300, {'code': T})
case('json/deep-200-ok.json', '[' * 200 + ']' * 200, {'ok': 'deep-200'})
# Prototype-pollution keys in documents: plain own data, never a prototype
case('json/proto-key.json', '{"__proto__": {"polluted": true}, "a": 1}', {'ok': 'proto-own-key'})
case('json/constructor-prototype.json', '{"constructor": {"prototype": {"polluted": true}}}', {'ok': 'constructor-own-key'})
case('json/nested-proto.json', '{"a": {"__proto__": {"polluted": true}}, "b": [{"__proto__": {"polluted": true}}]}', {'ok': 'nested-proto'})
# YAML: malformed shapes
case('yaml/tab-indent.yaml', 'a:\n\tb: 1\n', {'code': P})
case('yaml/bad-indent.yaml', 'a:\n  b: 1\n c: 2\n', {'code': P})
case('yaml/unclosed-quote.yaml', 'a: "abc\n', {'code': P})
case('yaml/unclosed-flow.yaml', 'a: [1, 2\n', {'code': P})
case('yaml/unclosed-flow-map.yaml', 'a: {b: 1\n', {'code': P})
case('yaml/duplicate-keys.yaml', 'a: 1\na: 2\n', {'code': P})
case('yaml/multi-document.yaml', 'a: 1\n---\nb: 2\n', {'code': P})
case('yaml/mapping-after-sequence.yaml', '- a\nb: 1\n', {'code': P})
case('yaml/colon-garbage.yaml', ': : :\n', {'code-in': [P]})
case('yaml/undefined-alias.yaml', 'a: *nope\n', {'code': P})
case('yaml/invalid-utf8.yaml', b'a: "\xff\xfe"\n', {'code': P})
case('yaml/nul-byte.yaml', b'a: 1\n\x00\n', {'code': P})
case('yaml/binary-garbage.yaml', bytes(range(256)) * 4, {'code': P})
case('yaml/directive-garbage.yaml', '%YAML 9.9\n%FOO\n---\na: 1\n', {'ok-or-code': [P]})
# YAML: valid but unusual
case('yaml/bom.yaml', '\ufeffa: 1\n', {'ok': {'a': 1}})
case('yaml/empty.yaml', '', {'ok': None})
case('yaml/comments-only.yaml', '# nothing here\n', {'ok': None})
case('yaml/small-anchors.yaml', 'base: &b {x: 1}\nuse: *b\nlist: [*b, *b]\n', {'ok': {'base': {'x': 1}, 'use': {'x': 1}, 'list': [{'x': 1}, {'x': 1}]}})
case('yaml/merge-key.yaml', 'base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n', {'ok-or-code': [P]})
case('yaml/js-function-tag.yaml', 'a: !!js/function "function(){ globalThis.pwned = true }"\n', {'ok-or-code': [P]})
case('yaml/custom-tag.yaml', 'a: !evil {x: 1}\n', {'ok-or-code': [P]})
case('yaml/binary-tag.yaml', 'a: !!binary aGVsbG8=\n', {'ok-or-code': [P]})
case('yaml/timestamp-tag.yaml', 'a: !!timestamp 2001-12-14\n', {'ok-or-code': [P]})
case('yaml/set-tag.yaml', 'a: !!set {x, y}\n', {'ok-or-code': [P]})
case('yaml/omap-tag.yaml', 'a: !!omap [{x: 1}, {y: 2}]\n', {'ok-or-code': [P]})
case('yaml/complex-key.yaml', '? [a, b]\n: 1\n', {'ok-or-code': [P]})
case('yaml/long-line.yaml', 'a: ' + 'x' * 100000 + '\n', {'ok': 'long-line'})
# YAML: alias bombs
laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
prev = 'a'
for n in 'bcdefghi':
    laughs += f'{n}: &{n} [' + ','.join([f'*{prev}'] * 9) + ']\n'
    prev = n
case('yaml/billion-laughs.yaml', laughs, {'code': T})
case('yaml/quadratic-aliases.yaml', 'a: &a [' + ','.join(['x'] * 1000) + ']\nb: [' + ','.join(['*a'] * 1000) + ']\n', {'code': T})
case('yaml/recursive-alias.yaml', 'a: &a [*a]\n', {'code-in': [P, T]})
# YAML: depth
case('yaml/deep-flow-100k.yaml', 'a: ' + '[' * 100000 + ']' * 100000 + '\n', {'code-in': [P, T]})
case('yaml/deep-block-1000.yaml', ''.join('  ' * i + f'k{i}:\n' for i in range(1000)) + '  ' * 1000 + 'v\n', {'code-in': [P, T]})
# YAML: prototype-pollution keys
case('yaml/proto-key.yaml', '__proto__:\n  polluted: true\na: 1\n', {'ok': 'proto-own-key'})
case('yaml/constructor-prototype.yaml', 'constructor:\n  prototype:\n    polluted: true\n', {'ok': 'constructor-own-key'})
case('yaml/merge-proto.yaml', 'evil: &e {polluted: true}\nx:\n  __proto__: *e\n  <<: {__proto__: {polluted: true}}\n', {'ok-or-code': [P]})

with open('manifest.json', 'w', encoding='utf-8') as f:
    json.dump(m, f, indent=2, ensure_ascii=True)
    f.write('\n')
print(f'{len(m)} cases')
