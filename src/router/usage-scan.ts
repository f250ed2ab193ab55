// The token counts of an OpenAI response, read from its bytes without parsing the body:
// the `usage` object's prompt_tokens and completion_tokens (usage rows, token metrics, and what a
// rate-limit reservation settles to). A small body is searched as one latin1 string: string
// searches are V8 builtins, where Buffer#indexOf is a call into C++ whose overhead cost more than
// the search and the two regex runs that used to read the numbers (callgrind, on the request
// path). JSON whitespace is allowed around the colons ("usage": {...} as Python's json.dumps
// writes it by default).
import { Buffer } from 'node:buffer';

export interface UsageCounts {
  prompt_tokens: number | undefined;
  completion_tokens: number | undefined;
}

/** How far after "usage" the two counts are looked for. */
export const USAGE_SPAN = 400;
/** Bodies up to this size are decoded and searched as one string; larger ones with Buffer#indexOf. */
const TEXT_BYTES = 8 * 1024;
const USAGE_KEY = '"usage"';
const USAGE_KEY_BYTES = Buffer.from(USAGE_KEY);

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Past JSON whitespace, a `c` character and whitespace again from i (bounded by `to`); -1 when `c` is not there. */
function pastPunct(text: string, i: number, to: number, c: number): number {
  while (i < to && isWs(text.charCodeAt(i))) i++;
  if (i >= to || text.charCodeAt(i) !== c) return -1;
  i++;
  while (i < to && isWs(text.charCodeAt(i))) i++;
  return i;
}

/** The whole number after `"key":` in text[from, to); undefined when absent or not a number. */
function countAfter(text: string, key: string, from: number, to: number): number | undefined {
  const k = text.indexOf(key, from);
  if (k === -1 || k + key.length >= to) return undefined;
  let i = pastPunct(text, k + key.length, to, 58 /* : */);
  if (i === -1) return undefined;
  const start = i;
  let n = 0;
  for (let c = text.charCodeAt(i); i < to && c >= 48 && c <= 57; c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
  return i > start ? n : undefined;
}

/**
 * The first `"usage"` key followed by an object in text from `from`: the index of its `{`, or -1.
 * Also how the proxy finds a stream's usage event (stream_options.include_usage).
 */
export function usageObjectAt(text: string, from: number): number {
  for (let k = text.indexOf(USAGE_KEY, from); k !== -1; k = text.indexOf(USAGE_KEY, k + 1)) {
    const at = pastPunct(text, k + USAGE_KEY.length, text.length, 58 /* : */);
    if (at !== -1 && text.charCodeAt(at) === 123 /* { */) return at;
  }
  return -1;
}

/** The counts in a JSON response body; undefined when it has no usage object. */
export function usageOfJson(body: Buffer): UsageCounts | undefined {
  let text: string;
  let at: number;
  if (body.length <= TEXT_BYTES) {
    text = body.toString('latin1');
    at = usageObjectAt(text, 0);
  } else {
    at = -1;
    text = '';
    for (let b = body.indexOf(USAGE_KEY_BYTES); b !== -1 && at === -1; b = body.indexOf(USAGE_KEY_BYTES, b + 1)) {
      text = body.toString('latin1', b, Math.min(body.length, b + USAGE_SPAN));
      at = usageObjectAt(text, 0);
    }
  }
  if (at === -1) return undefined;
  const to = Math.min(text.length, at + USAGE_SPAN);
  return { prompt_tokens: countAfter(text, '"prompt_tokens"', at, to), completion_tokens: countAfter(text, '"completion_tokens"', at, to) };
}
