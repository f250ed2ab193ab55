// Copies of bytes on their way to a socket, cut from one slab at a time. Node's own pool
// (Buffer.from, Buffer.allocUnsafe) serves only sizes under 4 KiB; anything larger gets an
// ArrayBuffer of its own, which the young-generation GC then sweeps and frees one by one: with
// streamed responses (a few KiB a read) that sweep was most of each scavenge. As with Node's pool
// a slab lives while any slice of it does, so only bytes that are soon written and dropped belong
// here (a backend's reads, framed responses), and a slice is at most a quarter of a slab: a slice
// held on to (a stream's last read, kept until it ends) pins at most one 64 KiB slab.
import { Buffer } from 'node:buffer';

const SLAB_BYTES = 64 * 1024;
/** Larger copies get a buffer of their own. */
export const MAX_SLICE = SLAB_BYTES / 4;

/** Sizes Node's own pool serves (Buffer.from and allocUnsafe take a pool slice below this). */
const NODE_POOL_LIMIT = Buffer.poolSize >>> 1;

let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let used = 0;

/** `size` uninitialised bytes: a slice of the current slab, or a buffer of their own when large. */
export function slabAlloc(size: number): Buffer {
  if (size > MAX_SLICE) return Buffer.allocUnsafeSlow(size);
  if (used + size > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    used = 0;
  }
  const out = slab.subarray(used, used + size);
  // the next slice starts 8-byte aligned, as in Node's pool
  used = (used + size + 7) & ~7;
  return out;
}

/** A copy of `bytes`: Node's pool when small, else a slab slice (see slabAlloc). */
export function copyOut(bytes: Uint8Array): Buffer {
  if (bytes.length < NODE_POOL_LIMIT) return Buffer.from(bytes);
  const out = slabAlloc(bytes.length);
  out.set(bytes);
  return out;
}
