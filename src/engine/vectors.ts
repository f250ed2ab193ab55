// Deterministic embeddings and rerank scores. A text's vector is a hashed bag of words: each
// token id seeds a fixed pseudo-random direction, the directions are summed (sublinear in the
// token's count) and the sum is L2-normalised. So equal texts give equal vectors, and texts that
// share words have a higher cosine similarity than unrelated ones: good enough for a demo
// search to look sensible and for a rerank to put the overlapping documents first.
import { Buffer } from 'node:buffer';
import { mix32 } from './hash.js';

/** Adds weight * (the fixed direction of token id) into acc (mulberry32, inlined for speed). */
function addDirection(acc: Float64Array, id: number, weight: number): void {
  let a = mix32(id, 0x2545f491);
  for (let i = 0; i < acc.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    acc[i]! += weight * ((((t ^ (t >>> 14)) >>> 0) / 2147483648) - 1);
  }
}

/** The unit vector of a token sequence, `dim` long. An empty input still gets a fixed vector. */
export function embedTokens(tokens: readonly number[], dim: number): Float32Array {
  const counts = new Map<number, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  const acc = new Float64Array(dim);
  if (counts.size === 0) addDirection(acc, 0x9e3779b9, 1);
  for (const [id, n] of counts) addDirection(acc, id, 1 + Math.log(n));
  return normalise(acc, dim);
}

/** The first `dim` components, renormalised (OpenAI's `dimensions`, Matryoshka style). */
export function truncate(v: Float32Array, dim: number): Float32Array {
  return dim >= v.length ? v : normalise(v.subarray(0, dim), dim);
}

function normalise(v: ArrayLike<number>, dim: number): Float32Array {
  let sum = 0;
  for (let i = 0; i < dim; i++) sum += v[i]! * v[i]!;
  const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = v[i]! * inv;
  return out;
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) dot += a[i]! * b[i]!;
  return dot;
}

/**
 * A cross-encoder-like relevance in (0, 1): a logistic of the cosine, so unrelated texts score
 * about 0.02, a document with half the query's words about 0.8, identical texts about 0.98.
 */
export function relevance(query: Float32Array, doc: Float32Array): number {
  return 1 / (1 + Math.exp(-(8 * cosine(query, doc) - 4)));
}

/** OpenAI's `encoding_format: "base64"`: the float32 values, little-endian, base64. */
export function toBase64(v: Float32Array): string {
  const buf = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf.toString('base64');
}

/** Rounds to float32 precision as plain numbers for JSON (`encoding_format: "float"`). */
export function toArray(v: Float32Array): number[] {
  return Array.from(v);
}
