import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jinjaToJson, PyFloat, pyFloatRepr, pyJsonDumps, pyNumberStr } from '../../src/tools/py-format.js';
import { parsePyJson } from '../../src/tools/py-json.js';
import { tomlKey, tomlString, tomlValue } from '../../src/tools/toml-format.js';

describe('Python number formatting', () => {
  // Each right-hand side is what CPython 3.11 prints for repr(float(left)).
  const table: [number, string][] = [
    [0.6, '0.6'],
    [1.02, '1.02'],
    [1, '1.0'],
    [0, '0.0'],
    [-0, '-0.0'],
    [123, '123.0'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [1234567890123456, '1234567890123456.0'],
    [1e16, '1e+16'],
    [1.2345678901234568e17, '1.2345678901234568e+17'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [5e-324, '5e-324'],
    [-2.5, '-2.5'],
    [0.1 + 0.2, '0.30000000000000004'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
  ];
  for (const [x, expected] of table) {
    it(`repr(${String(x)}) is ${expected}`, () => assert.equal(pyFloatRepr(x), expected));
  }

  it('prints ints with every digit and integral floats with .0', () => {
    assert.equal(pyNumberStr(32768), '32768');
    assert.equal(pyNumberStr(1e21), '1000000000000000000000');
    assert.equal(pyNumberStr(new PyFloat(1)), '1.0');
    assert.equal(pyNumberStr(0.9), '0.9');
  });
});

describe('parsePyJson', () => {
  it('keeps floats written with a fraction or exponent as floats', () => {
    const v = parsePyJson('{"a": 1.0, "b": 1, "c": 2e3, "d": 0.5, "e": [1.0, -0.0], "f": "1.0"}') as Record<string, unknown>;
    assert.ok(v.a instanceof PyFloat);
    assert.equal(v.b, 1);
    assert.ok(v.c instanceof PyFloat && v.c.value === 2000);
    assert.equal(v.d, 0.5);
    const e = v.e as unknown[];
    assert.ok(e[0] instanceof PyFloat);
    assert.ok(e[1] instanceof PyFloat && Object.is(e[1].value, -0));
    assert.equal(v.f, '1.0');
  });

  it('gives the same values as JSON.parse otherwise', () => {
    const text = '{"s": "a\\"b\\\\c\\u00e9", "n": null, "t": true, "f": false, "x": [], "o": {}, "nested": [{"k": [1, [2]]}], "k": 1, "k": 2}';
    assert.deepEqual(JSON.parse(JSON.stringify(parsePyJson(text))), JSON.parse(text));
  });

  it('keeps a __proto__ key as data, like JSON.parse', () => {
    const v = parsePyJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__']);
  });

  it('rejects invalid JSON with the parser message', () => {
    assert.throws(() => parsePyJson('{"a": 1,}'), SyntaxError);
  });

  it('lets a PyFloat act as a number in arithmetic and comparisons', () => {
    const x = new PyFloat(1) as unknown as number;
    assert.equal(x + 1, 2);
    assert.equal(x * 2, 2);
    assert.ok(x > 0.5);
    assert.equal(String(x), '1.0');
    assert.equal(JSON.stringify({ x }), '{"x":1}');
  });
});

describe('Python json.dumps', () => {
  it('matches json.dumps separators, indent and ensure_ascii', () => {
    assert.equal(pyJsonDumps([4, 5, 6, 7]), '[4, 5, 6, 7]');
    assert.equal(pyJsonDumps({ a: 'é', b: [new PyFloat(1), 2.5] }), '{"a": "\\u00e9", "b": [1.0, 2.5]}');
    assert.equal(pyJsonDumps({ a: [1], b: {}, c: [] }, { indent: 2 }), '{\n  "a": [\n    1\n  ],\n  "b": {},\n  "c": []\n}');
  });

  it('tojson sorts keys and escapes HTML-special characters as Jinja2 does', () => {
    assert.equal(jinjaToJson({ z: 1, a: "<'&>" }), '{"a": "\\u003c\\u0027\\u0026\\u003e", "z": 1}');
  });
});

describe('TOML literals', () => {
  it('escapes strings so a quote or backslash cannot break the file', () => {
    assert.equal(tomlString('C:\\models\\"x".gguf'), '"C:\\\\models\\\\\\"x\\".gguf"');
    assert.equal(tomlString('a\nb\u0001'), '"a\\nb\\u0001"');
  });

  it('quotes keys that are not bare keys', () => {
    assert.equal(tomlKey('Qwen3-32B'), 'Qwen3-32B');
    assert.equal(tomlKey('Qwen2.5-7B'), '"Qwen2.5-7B"');
  });

  it('writes lists like Python reprs a list of ints, and refuses null', () => {
    assert.equal(tomlValue([4, 5, 6, 7]), '[4, 5, 6, 7]');
    assert.equal(tomlValue({ a: true, 'b c': [new PyFloat(2)] }), '{ a = true, "b c" = [2.0] }');
    assert.throws(() => tomlValue(null), /null has no TOML form/);
  });
});
