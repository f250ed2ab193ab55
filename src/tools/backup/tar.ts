// A gzip'd ustar archive, written and read as a stream: enough of POSIX tar for a backup of a few
// regular files (and what GNU tar or bsdtar make of one when an operator repacks it), without a
// dependency. Reading is strict on purpose: an archive is untrusted input, so an entry that is
// not a plain file or folder, or whose name would land outside the extraction folder, is refused.
import { Buffer } from 'node:buffer';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

const BLOCK = 512;

export interface TarInput {
  /** The name inside the archive (posix, relative). */
  name: string;
  /** The file on disk to read. */
  file: string;
  size: number;
  mtimeMs: number;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mtimeMs: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK);
  let base = name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    // ustar splits a long name at a '/' into prefix (155) and name (100)
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new TypeError(`tar: name too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(type === '5' ? 0o755 : 0o600, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  if (size < 8 ** 11) {
    h.write(octal(size, 12), 124, 'ascii');
  } else {
    // GNU base-256 size for files of 8 GiB and more
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  h.write(octal(Math.floor(mtimeMs / 1000), 12), 136, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\u000000', 257, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

async function* entries(inputs: readonly TarInput[]): AsyncGenerator<Buffer> {
  const dirs = new Set<string>();
  for (const e of inputs) {
    // folders first, so that any tar extracts the files into them
    for (let d = posix.dirname(e.name); d !== '.' && !dirs.has(d); d = posix.dirname(d)) dirs.add(d);
  }
  for (const d of [...dirs].sort()) yield header(`${d}/`, 0, Date.now(), '5');
  for (const e of inputs) {
    yield header(e.name, e.size, e.mtimeMs, '0');
    let read = 0;
    for await (const chunk of createReadStream(e.file)) {
      const buf = chunk as Buffer;
      read += buf.length;
      if (read > e.size) throw new Error(`${e.file} grew while it was archived`);
      yield buf;
    }
    if (read !== e.size) throw new Error(`${e.file} changed size while it was archived (${e.size} -> ${read} bytes)`);
    const pad = (BLOCK - (e.size % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2);
}

/** Writes a .tar.gz of the inputs to `out` (the caller renames it into place). */
export async function writeTarGz(inputs: readonly TarInput[], out: string): Promise<void> {
  await pipeline(Readable.from(entries(inputs)), createGzip({ level: 6 }), createWriteStream(out, { flags: 'wx', mode: 0o600 }));
}

export class TarFormatError extends Error {}

function readOctal(h: Buffer, off: number, len: number, what: string): number {
  if ((h[off]! & 0x80) !== 0) {
    let v = 0n;
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(h[i]!);
    return Number(v);
  }
  const s = h.toString('ascii', off, off + len).replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad ${what} field in a tar header`);
  return parseInt(s, 8);
}

function text(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

/** A name from an archive as a safe relative path (no absolute path, no `..`), or throws. */
export function safeEntryName(raw: string): string {
  const name = raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (name === '' || name === '.') return '';
  if (name.startsWith('/') || name.includes('\\') || name.includes('\0') || name.split('/').some((p) => p === '..' || p === '' || p === '.')) {
    throw new TarFormatError(`unsafe name in the archive: '${raw}'`);
  }
  return name;
}

async function writeAll(fh: Awaited<ReturnType<typeof open>>, data: Buffer): Promise<void> {
  // write(2) may take less than it was given; the checksums would catch it, but later
  for (let off = 0; off < data.length; ) off += (await fh.write(data, off, data.length - off)).bytesWritten;
}

/**
 * Extracts a .tar.gz into `dir` (which must exist and be empty). Returns the files written,
 * relative to dir. Throws TarFormatError for anything but plain files and folders with safe
 * names, and for a truncated or corrupt archive.
 */
export async function extractTarGz(archive: string, dir: string): Promise<string[]> {
  const files: string[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let ended = false;
  // the file being written and how many of its bytes (and padding bytes) are still to come
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  let remaining = 0;
  let skip = 0;
  let discard = false;
  const gunzip = createGunzip();
  const src = createReadStream(archive);
  src.on('error', (err) => gunzip.destroy(err));
  src.pipe(gunzip);
  try {
    for await (const chunk of gunzip) {
      buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
      for (;;) {
        if (remaining > 0) {
          if (buf.length === 0) break;
          const n = Math.min(remaining, buf.length);
          if (!discard) await writeAll(fh!, buf.subarray(0, n));
          buf = buf.subarray(n);
          remaining -= n;
          if (remaining === 0 && fh) {
            await fh.close();
            fh = undefined;
          }
          continue;
        }
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          buf = buf.subarray(n);
          skip -= n;
          if (skip > 0) break;
          continue;
        }
        if (ended) {
          buf = Buffer.alloc(0);
          break;
        }
        if (buf.length < BLOCK) break;
        const h = buf.subarray(0, BLOCK);
        buf = buf.subarray(BLOCK);
        if (h.every((b) => b === 0)) {
          ended = true;
          continue;
        }
        const stored = readOctal(h, 148, 8, 'checksum');
        let sum = 0;
        for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
        if (sum !== stored) throw new TarFormatError('a tar header has a wrong checksum (not a tar archive, or damaged)');
        const type = String.fromCharCode(h[156]!);
        const size = readOctal(h, 124, 12, 'size');
        const magic = h.toString('ascii', 257, 262);
        const prefix = magic === 'ustar' ? text(h, 345, 155) : '';
        const name = safeEntryName(prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
        const pad = (BLOCK - (size % BLOCK)) % BLOCK;
        if (type === 'x' || type === 'g') {
          // pax headers (GNU tar, bsdtar): attributes we do not need
          discard = true;
          remaining = size;
          skip = pad;
          continue;
        }
        if (type === '5') {
          if (name) mkdirSync(join(dir, name), { recursive: true });
          continue;
        }
        if (type !== '0' && type !== '\0') throw new TarFormatError(`entry '${name}' is not a regular file (tar type '${type}'): refused`);
        if (!name) throw new TarFormatError('an entry without a name');
        if (files.includes(name)) throw new TarFormatError(`entry '${name}' appears twice`);
        const path = join(dir, name);
        mkdirSync(dirname(path), { recursive: true });
        fh = await open(path, 'wx', 0o600);
        files.push(name);
        discard = false;
        remaining = size;
        skip = pad;
        if (size === 0) {
          await fh.close();
          fh = undefined;
        }
      }
    }
  } catch (err) {
    if (err instanceof TarFormatError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || code === 'Z_STREAM_ERROR') {
      throw new TarFormatError(`not a valid .tar.gz (${(err as Error).message})`);
    }
    throw err;
  } finally {
    await fh?.close();
    src.destroy();
  }
  if (remaining > 0 || skip > 0 || !ended) throw new TarFormatError('the archive is truncated (it ends in the middle of an entry or without the end-of-archive blocks)');
  return files;
}
