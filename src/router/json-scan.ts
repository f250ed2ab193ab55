// Reads the top-level fields the router routes on (model, stream, max_tokens, ...) straight from
// the request bytes, without building the whole object: strings are skipped with the native
// Buffer.indexOf, so a 100 KB prompt costs a fraction of JSON.parse. It checks the structure it
// walks (objects, arrays, strings, literals, commas and colons) but not the contents of skipped
// numbers and literals in nested values; it gives up (undefined) on anything it does not
// understand, and the caller then parses the body in full.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

export type TopValue = string | number | boolean | null | undefined;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWs(b: Buffer, i: number): number {
  while (i < b.length && isWs(b[i]!)) i++;
  return i;
}

/** The index just past the closing quote of the string opening at i, or -1. */
function skipString(b: Buffer, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q === -1) return -1;
    // an escaped quote has an odd number of backslashes before it
    let k = q - 1;
    while (k > i && b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** Past a number or literal (true, false, null) starting at i; -1 when it is not one. */
function skipScalar(b: Buffer, i: number): number {
  let j = i;
  while (j < b.length) {
    const c = b[j]!;
    if (c === COMMA || c === RBRACE || c === RBRACKET || isWs(c)) break;
    if (c === QUOTE || c === LBRACE || c === LBRACKET || c === COLON) return -1;
    j++;
  }
  return j === i ? -1 : j;
}

/** Past the value (any type) starting at i; -1 on a structure it does not accept. */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c !== LBRACE && c !== LBRACKET) return skipScalar(b, i);
  // nested: walk the structure, strings skipped natively
  const stack: number[] = [c];
  let j = i + 1;
  let expectKey = c === LBRACE;
  while (j < b.length) {
    j = skipWs(b, j);
    const d = b[j];
    if (d === undefined) return -1;
    const top = stack[stack.length - 1]!;
    if ((d === RBRACE && top === LBRACE) || (d === RBRACKET && top === LBRACKET)) {
      stack.pop();
      j++;
      if (stack.length === 0) return j;
      j = skipWs(b, j);
      if (b[j] === COMMA) {
        j++;
        expectKey = stack[stack.length - 1] === LBRACE;
      }
      continue;
    }
    if (expectKey) {
      if (d !== QUOTE) return -1;
      j = skipString(b, j);
      if (j === -1) return -1;
      j = skipWs(b, j);
      if (b[j] !== COLON) return -1;
      j = skipWs(b, j + 1);
      expectKey = false;
      continue;
    }
    if (d === LBRACE || d === LBRACKET) {
      stack.push(d);
      j++;
      expectKey = d === LBRACE;
      continue;
    }
    j = d === QUOTE ? skipString(b, j) : skipScalar(b, j);
    if (j === -1) return -1;
    j = skipWs(b, j);
    if (b[j] === COMMA) {
      j++;
      expectKey = stack[stack.length - 1] === LBRACE;
    } else if (b[j] !== RBRACE && b[j] !== RBRACKET) return -1;
  }
  return -1;
}

function scalarValue(b: Buffer, s: number, e: number): TopValue {
  const text = b.toString('latin1', s, e);
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  const n = Number(text);
  return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) && Number.isFinite(n) ? n : undefined;
}

/**
 * The top-level values of `wanted` keys, when the body is a JSON object whose structure scans;
 * undefined otherwise. Values that are objects or arrays are reported as undefined (present but
 * not scalar: the caller parses in full if it needs them). Keys missing from the body are absent
 * from the result.
 */
export function scanTopLevel(b: Buffer, wanted: ReadonlySet<string>): Map<string, TopValue> | undefined {
  const out = new Map<string, TopValue>();
  let i = skipWs(b, 0);
  if (b[i] !== LBRACE) return undefined;
  i = skipWs(b, i + 1);
  if (b[i] === RBRACE) return skipWs(b, i + 1) === b.length ? out : undefined;
  for (;;) {
    if (b[i] !== QUOTE) return undefined;
    const keyEnd = skipString(b, i);
    if (keyEnd === -1) return undefined;
    const rawKey = b.toString('utf8', i + 1, keyEnd - 1);
    const key = rawKey.includes('\\') ? (JSON.parse(`"${rawKey}"`) as string) : rawKey;
    i = skipWs(b, keyEnd);
    if (b[i] !== COLON) return undefined;
    i = skipWs(b, i + 1);
    const start = i;
    const end = skipValue(b, i);
    if (end === -1) return undefined;
    if (wanted.has(key)) {
      const c = b[start];
      if (c === QUOTE) {
        const text = b.toString('utf8', start + 1, end - 1);
        try {
          out.set(key, text.includes('\\') ? (JSON.parse(`"${text}"`) as string) : text);
        } catch {
          return undefined;
        }
      } else if (c === LBRACE || c === LBRACKET) out.set(key, undefined);
      else {
        const v = scalarValue(b, start, end);
        if (v === undefined) return undefined;
        out.set(key, v);
      }
    }
    i = skipWs(b, end);
    if (b[i] === COMMA) {
      i = skipWs(b, i + 1);
      continue;
    }
    if (b[i] === RBRACE) return skipWs(b, i + 1) === b.length ? out : undefined;
    return undefined;
  }
}
