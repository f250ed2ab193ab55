// JSON read the way Python's json module reads it, for inputs that InfiniLM-SVC's tools took:
// a number written with a fraction or an exponent stays a float even when it is integral
// (`"top_p": 1.0` must print back as `1.0`, not `1`). JSON.parse cannot say how a number was
// written (its reviver gets the source text only from Node 22), so this reads the text itself.
import { readFileSync } from 'node:fs';
import { describeError, sbError, sbErrorFrom } from '../core/index.js';
import { PyFloat } from './py-format.js';

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parses JSON text: plain JavaScript values, except integral floats, which become PyFloat.
 * Syntax errors are JSON.parse's (the text is checked with it first, so the reader below may
 * assume well-formed input). Duplicate keys: the last wins, as in both Python and JSON.parse.
 */
export function parsePyJson(text: string): unknown {
  JSON.parse(text);
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const readString = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const readValue = (): unknown => {
    skipSpace();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      skipSpace();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        skipSpace();
        const key = readString();
        skipSpace();
        i++; // ':'
        // defineProperty, as JSON.parse does: a "__proto__" key is data, not a prototype.
        Object.defineProperty(obj, key, { value: readValue(), enumerable: true, writable: true, configurable: true });
        skipSpace();
        if (text[i++] === '}') return obj;
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      skipSpace();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(readValue());
        skipSpace();
        if (text[i++] === ']') return arr;
      }
    }
    if (c === '"') return readString();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text)!;
    i += m[0].length;
    const n = Number(m[0]);
    return (m[1] !== undefined || m[2] !== undefined) && Number.isInteger(n) ? new PyFloat(n) : n;
  };
  return readValue();
}

/**
 * Reads and parses a JSON file. `what` names it in errors ("Deployment config"); a missing
 * file is SB_ERR_FILE_NOT_FOUND, bad JSON SB_ERR_INVALID_JSON naming the file.
 */
export function readPyJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw sbErrorFrom(err, 'SB_ERR_FILE_NOT_FOUND', what, path);
    throw sbErrorFrom(err, 'SB_ERR_CONFIG_FILE', path, describeError(err));
  }
  try {
    return parsePyJson(text);
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_INVALID_JSON', `${path}: ${(err as Error).message}`);
  }
}

/** The top level of an input file must be an object (its keys become template variables). */
export function asObject(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw sbError('SB_ERR_INPUT_INVALID', where, 'the top level must be a JSON object');
  }
  return value as Record<string, unknown>;
}
