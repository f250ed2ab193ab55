// Small non-cryptographic hashes for the sim: token ids, prefix-cache block keys and the seeds
// of deterministic replies. Speed and spread matter here, not resistance to attack.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a (32 bit) of a string's UTF-16 code units, continuing from h. */
export function fnv1a(text: string, h = FNV_OFFSET): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** Folds one 32-bit value into a running hash (murmur3's finaliser keeps the bits mixed). */
export function mix32(h: number, v: number): number {
  let x = Math.imul((h ^ v) >>> 0, 0x9e3779b1);
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A 32-bit hash of a token sequence (seeded), e.g. to derive a reply's seed from its prompt. */
export function hashTokens(tokens: readonly number[], seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < tokens.length; i++) h = mix32(h, tokens[i]!);
  return mix32(h, tokens.length);
}

/**
 * Keys of the full blocks of a prompt, each covering every token before it (vLLM's automatic
 * prefix caching hashes blocks cumulatively, so equal keys mean equal prefixes). Two 32-bit
 * lanes make a 53-bit key: collisions stay negligible for millions of cached blocks.
 */
export function blockKeys(tokens: readonly number[], blockSize: number, scope: number): number[] {
  const keys: number[] = [];
  let a = scope >>> 0;
  let b = mix32(scope, 0x5bd1e995);
  const full = tokens.length - (tokens.length % blockSize);
  for (let i = 0; i < full; i++) {
    const t = tokens[i]!;
    a = mix32(a, t);
    b = mix32(b, t ^ 0xa5a5a5a5);
    if ((i + 1) % blockSize === 0) keys.push((b & 0x1fffff) * 4294967296 + a);
  }
  return keys;
}
