// Python's text forms of JSON values, so files we generate are byte-identical to what the
// InfiniLM-SVC Python tools wrote: str() of numbers (`0.6`, `1.0`, `1e-05`), json.dumps
// (`", "` / `": "` separators, `indent=`, ensure_ascii) and Jinja2's `tojson`.

/**
 * A number that was written as a float (`1.0`, `2e3`) but has no fractional part. JSON.parse
 * turns `1.0` into `1`; Python keeps it a float and prints `1.0`. Only integral floats need
 * this box: any non-integral number is necessarily a float. It behaves as a number in
 * arithmetic and comparisons (`valueOf`, and `Symbol.toPrimitive` gives the number for every
 * hint but "string"), and prints Python's way through `String()` and the template filters.
 */
export class PyFloat {
  constructor(readonly value: number) {}

  valueOf(): number {
    return this.value;
  }

  toString(): string {
    return pyFloatRepr(this.value);
  }

  toJSON(): number {
    return this.value;
  }

  [Symbol.toPrimitive](hint: string): number | string {
    return hint === 'string' ? pyFloatRepr(this.value) : this.value;
  }
}

export function isNumeric(v: unknown): v is number | PyFloat {
  return typeof v === 'number' || v instanceof PyFloat;
}

/**
 * Python's repr()/str() of a float (CPython's 'r' format, float_repr_style "short"): the
 * shortest round-tripping digits (the same digits JavaScript picks), in positional notation
 * with a trailing `.0` when the decimal exponent is in [-4, 16), otherwise `d.ddde+XX` with at
 * least two exponent digits.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa = '', expText = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expText); // |x| = d.ddd × 10^exp
  const point = exp + 1; // CPython's decpt: |x| = 0.dddd × 10^point
  if (point <= -4 || point > 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Python's str() of a JSON number: an int's exact digits, a float's repr. */
export function pyNumberStr(v: number | PyFloat): string {
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  // BigInt gives every digit of a large integral double, as Python's int does (String() would
  // switch to exponent notation at 1e21).
  return Number.isInteger(v) ? BigInt(v).toString() : pyFloatRepr(v);
}

/** Python's json.dumps of a string with ensure_ascii (the default): only printable ASCII stays. */
export function pyJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += s[i];
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    // everything else, astral characters included (one escape per UTF-16 unit, as Python)
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return out + '"';
}

export interface PyJsonOptions {
  /** json.dumps(indent=N): one item per line; separators become `,` and `: `. */
  indent?: number;
  sortKeys?: boolean;
}

/** Python's json.dumps(value, indent=, sort_keys=) for JSON-shaped values. */
export function pyJsonDumps(value: unknown, opts: PyJsonOptions = {}): string {
  const { indent, sortKeys = false } = opts;
  const dump = (v: unknown, level: number): string => {
    if (v === null || v === undefined) return 'null';
    if (v === true) return 'true';
    if (v === false) return 'false';
    if (typeof v === 'string') return pyJsonString(v);
    if (isNumeric(v)) {
      const n = Number(v);
      if (Number.isNaN(n)) return 'NaN';
      if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
      return pyNumberStr(v);
    }
    let items: string[];
    let open: string;
    let close: string;
    if (Array.isArray(v)) {
      items = v.map((x) => dump(x, level + 1));
      [open, close] = ['[', ']'];
    } else if (typeof v === 'object') {
      const keys = Object.keys(v);
      if (sortKeys) keys.sort();
      items = keys.map((k) => `${pyJsonString(k)}: ${dump((v as Record<string, unknown>)[k], level + 1)}`);
      [open, close] = ['{', '}'];
    } else {
      throw new TypeError(`a ${typeof v} is not JSON serializable`);
    }
    if (items.length === 0) return open + close;
    if (indent === undefined) return open + items.join(', ') + close;
    const pad = ' '.repeat(indent * (level + 1));
    return `${open}\n${pad}${items.join(`,\n${pad}`)}\n${' '.repeat(indent * level)}${close}`;
  };
  return dump(value, 0);
}

/**
 * Jinja2's `tojson` filter: json.dumps with sorted keys, then `<`, `>`, `&` and `'` escaped so
 * the result is safe inside HTML and single-quoted strings.
 */
export function jinjaToJson(value: unknown, indent?: number): string {
  return pyJsonDumps(value, { sortKeys: true, ...(indent === undefined ? {} : { indent }) })
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026')
    .replaceAll("'", '\\u0027');
}
