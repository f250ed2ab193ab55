// Reads of plain-TCP sockets land in one shared buffer (net's `onread` option) and what was read
// is copied out at its size, instead of libuv's default: a fresh 64 KiB allocation per read,
// shrunk to size and wrapped as a new ArrayBuffer, each one swept and freed by the GC later (with
// the slab copies of slab.ts, about 1.5 us a request: perf and --trace-gc-nvp). One buffer serves
// every socket: a read's callback copies before the next read can happen.
//
// Backend connections take `onread` when they connect. A server's accepted sockets have no such
// option, so `readShared` sets up on one what `onread` would: the socket's two properties (found
// by their symbols' names on a socket made with `onread`) and the handle's useUserBuffer. Where a
// Node version has them under other names, it says so (false) and the socket keeps 'data' events.
import { Buffer } from 'node:buffer';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { copyOut } from './slab.js';

/** The one buffer every socket read here goes into. */
export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

type ReadCallback = (n: number, buf: Uint8Array) => boolean;

const probe = new Socket({ onread: { buffer: READ_BUFFER, callback: () => true } } as SocketConstructorOpts);
const symbols = Object.getOwnPropertySymbols(probe);
const kBuffer = symbols.find((s) => s.description === 'kBuffer');
const kBufferCb = symbols.find((s) => s.description === 'kBufferCb');
probe.destroy();

interface OnreadSocket {
  _handle?: { useUserBuffer?(buf: Uint8Array): void } | null;
  [k: symbol]: unknown;
}

/** A read callback that hands on a copy of what was read (the shared buffer is read into again next). */
function copying(copy: (bytes: Uint8Array) => Buffer, received: (bytes: Buffer) => void): ReadCallback {
  return (n, buf) => {
    received(copy(buf.subarray(0, n)));
    return true;
  };
}

const nodeCopy = (bytes: Uint8Array): Buffer => Buffer.from(bytes);

/** `onread` for backend connections: each read copied out (copyOut: a slab slice when large) and handed to `received`. */
export function onreadCopying(received: (bytes: Buffer) => void): { buffer: Buffer; callback: ReadCallback } {
  return { buffer: READ_BUFFER, callback: copying(copyOut, received) };
}

/**
 * Reads of an accepted socket into the shared buffer, each copied out and handed to `received`
 * (in place of 'data' events); false when this Node cannot, and nothing was changed. A client's
 * bytes can live as long as its exchange (the body is kept for retries), so their copies are
 * Node's (pooled under 4 KiB), not slab slices.
 */
export function readShared(socket: Socket, received: (bytes: Buffer) => void): boolean {
  const s = socket as unknown as OnreadSocket;
  const handle = s._handle;
  if (kBuffer === undefined || kBufferCb === undefined || typeof handle?.useUserBuffer !== 'function') return false;
  s[kBuffer] = READ_BUFFER;
  s[kBufferCb] = copying(nodeCopy, received);
  handle.useUserBuffer(READ_BUFFER);
  return true;
}

/**
 * A socket of readShared back to the stream's own reads ('data' events, pause, unshift): for a
 * connection handed on to node:http. Its reads still land in the shared buffer; the copies are
 * pushed into the stream as libuv's own buffers would be (and reading stops when it is full).
 */
export function readAsStream(socket: Socket): void {
  const s = socket as unknown as OnreadSocket;
  if (kBufferCb === undefined || s[kBufferCb] === undefined) return;
  s[kBufferCb] = ((n, buf) => socket.push(Buffer.from(buf.subarray(0, n)))) satisfies ReadCallback;
}
