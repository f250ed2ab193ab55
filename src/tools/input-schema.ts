// Validation of the tools' JSON inputs with zod, reported the way an operator reads a file:
// `models[2].gpus: expected a list of integers` (the first problem, naming the field).
import { z } from 'zod';
import { sbError } from '../core/index.js';
import { isNumeric, type PyFloat } from './py-format.js';

/** zod's `error` option: "expected X", or "missing (expected X)" when the key is absent. */
export function expected(what: string): { error: (iss: { input?: unknown }) => string } {
  return { error: (iss) => (iss.input === undefined ? `missing (expected ${what})` : `expected ${what}`) };
}

/** A finite JSON number, int or float (PyFloat keeps `1.0` a float for Python-style output). */
export function pyNumber(what = 'a number'): z.ZodType<number | PyFloat> {
  return z.custom<number | PyFloat>((v) => isNumeric(v) && Number.isFinite(Number(v)), expected(what));
}

/** An integer (written without a fraction: `1024.0` is a float, as in Python) with a minimum. */
export function integer(min: number, what: string): z.ZodInt {
  return z.int(expected(what)).min(min, { error: `expected ${what}` });
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : `${out ? '.' : ''}${String(k)}`;
  return out || '(top level)';
}

/** Parses `value` or throws SB_ERR_INPUT_INVALID for the first issue, prefixed by `prefix`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const at = formatPath(issue.path);
  throw sbError('SB_ERR_INPUT_INVALID', prefix ? `${prefix}${issue.path.length ? `: ${at}` : ''}` : at, issue.message);
}
