// TOML literals for the render-config templates (`| toml`, `| toml_string`, `| toml_key`).
// Numbers print as Python's str() printed them, because that is what InfiniLM-SVC wrote into
// these files and every form it produces (`0.6`, `1.0`, `1e-05`, `inf`, `nan`) is valid TOML.
// Strings are always escaped: the original pasted paths between quotes as they were, so a `"` or
// a `\` (a Windows path) in the JSON produced a broken file.
import { isNumeric, pyNumberStr } from './py-format.js';

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** A TOML basic string: `"..."` with `"`, `\` and control characters escaped. */
export function tomlString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += s[i];
  }
  return out + '"';
}

/**
 * A TOML key: bare when it can be (`Qwen3-32B`), quoted otherwise. The original wrote model
 * names bare, so `[Qwen2.5-7B]` became the dotted key Qwen2 → "5-7B" (a nested table), not a
 * table named "Qwen2.5-7B"; quoting gives the table the name the JSON meant.
 */
export function tomlKey(key: string): string {
  return BARE_KEY.test(key) ? key : tomlString(key);
}

/**
 * Any JSON value as a TOML value: strings escaped, numbers in Python's str() form, booleans
 * `true`/`false`, lists `[a, b]` (so a list of ints reads exactly like Python's repr,
 * `[4, 5, 6, 7]`), objects as inline tables. null has no TOML form and is an error.
 */
export function tomlValue(value: unknown): string {
  if (typeof value === 'string') return tomlString(value);
  if (isNumeric(value)) return pyNumberStr(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(tomlValue).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v)}`);
    return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  }
  throw new Error(`${value === null ? 'null' : typeof value} has no TOML form`);
}
