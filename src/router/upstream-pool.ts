// Keep-alive HTTP/1.1 connections to the backends, for the proxy path only. A request is written as
// one head plus the body already read; the response head is read into a status and the header lines
// to pass on (head.ts), and the body is handed on as it arrives (chunked framing removed, no copies), so the proxy
// can relay it with backpressure. A connection goes back to its origin's idle stack when a response
// ends cleanly and the backend did not ask to close it. Timeouts other than connect are the proxy's
// (its sweep aborts a call); the pool only knows sockets.
import { Buffer } from 'node:buffer';
import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { headerList, isHopByHop, nameIs } from './head.js';
import { onreadCopying } from './socket-reads.js';

/** What a call reports, in order: start, data*, then end or error (exactly one of them). */
export interface ResponseHandler {
  /** A header the handler sets on the response itself: a backend's own line of that name is dropped (lower case). */
  readonly ownHeader: string;
  /** Headers the handler sets itself under this name prefix ('' for none): a backend's lines so named are dropped (lower case). */
  readonly ownPrefix: string;
  onStart(head: ResponseHead): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error): void;
}

/** A response's status and header lines, as the proxy passes them on. */
export class ResponseHead {
  #list: string[] | undefined;

  constructor(
    readonly status: number,
    /**
     * The header lines to pass on as the backend sent them ("name: value\r\n" each): hop-by-hop
     * ones (transfer-encoding and connection among them), x-request-id and the handler's own taken out.
     */
    readonly block: string,
    readonly contentType: string,
    /** -1 without a content-length. */
    readonly contentLength: number,
    readonly hasDate: boolean,
  ) {}

  /** The block as a flat list, name as sent, value (built on first use). */
  get list(): string[] {
    return (this.#list ??= headerList(this.block));
  }
}

/** A failure of the connection, with a code the proxy classifies (ECONNREFUSED, ECONNRESET, SB_CONNECT_TIMEOUT...). */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface Origin {
  readonly host: string;
  readonly port: number;
  /** "host:port": the idle stack's key and the Host header. */
  readonly key: string;
  readonly tls: boolean;
}

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;

type BodyMode = 'none' | 'length' | 'chunked' | 'close';
type ChunkState = 'size' | 'data' | 'data-crlf' | 'trailer';

/** One request on one connection. */
export class Call {
  #conn: Conn | undefined;
  #done = false;
  #started = false;
  /** Any response byte seen: a reused connection that fails before one is retried on a fresh one. */
  #gotBytes = false;
  #retriedStale = false;
  #head: Buffer | undefined;
  #mode: BodyMode = 'none';
  #remaining = 0;
  #chunkState: ChunkState = 'size';
  #sizeLine = '';
  /** Passthrough: the start of a size line that continues in the next packet. */
  #held: Buffer | undefined;
  /** Passthrough: the last chunk has begun; nothing more is handed on. */
  #tail = false;
  /**
   * Set by the handler in onStart when the client side can take the chunked framing as it is
   * (see #chunked); the response's body bytes are then handed on framed.
   */
  passthrough = false;
  /** Chunks of data in a chunked body so far. */
  chunkCount = 0;

  constructor(
    readonly pool: UpstreamPool,
    readonly origin: Origin,
    readonly request: Buffer[],
    readonly isHead: boolean,
    readonly handler: ResponseHandler,
    readonly connectTimeoutMs: number,
  ) {}

  /** Whether the response body is chunked (known from onStart on). */
  get chunked(): boolean {
    return this.#mode === 'chunked';
  }

  /** Ends the call with `reason` (delivered to onError after this tick); its connection is closed. */
  abort(reason: Error): void {
    if (this.#done) return;
    this.#done = true;
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) conn.destroy();
    queueMicrotask(() => this.handler.onError(reason));
  }

  pause(): void {
    this.#conn?.socket.pause();
  }

  resume(): void {
    this.#conn?.socket.resume();
  }

  attach(conn: Conn): void {
    this.#conn = conn;
    conn.call = this;
    const s = conn.socket;
    if (this.request.length === 1) s.write(this.request[0]!);
    else {
      s.cork();
      for (const b of this.request) s.write(b);
      s.uncork();
    }
  }

  /** The connection failed or closed under this call. */
  connFailed(conn: Conn, err: Error): void {
    if (this.#done || this.#conn !== conn) return;
    this.#conn = undefined;
    if (this.#mode === 'close' && this.#started && err instanceof UpstreamError && err.code === 'SB_CLOSED') {
      // a body delimited by the end of the connection
      this.#done = true;
      this.handler.onEnd();
      return;
    }
    if (conn.reused && !this.#gotBytes && !this.#retriedStale) {
      // a keep-alive connection the backend had closed as we picked it: once more on a fresh one
      this.#retriedStale = true;
      this.pool.connectFor(this);
      return;
    }
    this.#done = true;
    this.handler.onError(err);
  }

  feed(conn: Conn, data: Buffer): void {
    this.#gotBytes = true;
    let d: Buffer | undefined = data;
    if (!this.#started) {
      d = this.#parseHead(d);
      if (d === undefined || this.#done) return;
    }
    if (d.length > 0 || this.#mode === 'none') this.#body(conn, d);
  }

  /** Returns the bytes after the head, or undefined while the head is incomplete. */
  #parseHead(data: Buffer): Buffer | undefined {
    let buf = this.#head ? Buffer.concat([this.#head, data]) : data;
    for (;;) {
      const end = buf.indexOf(CRLF2);
      if (end === -1) {
        if (buf.length > MAX_HEAD) this.#protocolError('response head too large');
        else this.#head = buf;
        return undefined;
      }
      this.#head = undefined;
      const text = buf.toString('latin1', 0, end);
      const rest = buf.subarray(end + 4);
      const status = Number(text.slice(9, 12));
      if (!text.startsWith('HTTP/1.') || !(status >= 100 && status <= 999)) {
        this.#protocolError('not an HTTP/1.x response');
        return undefined;
      }
      if (status >= 100 && status < 200 && status !== 101) {
        // an interim response (100 Continue, 103 Early Hints): the real one follows
        buf = rest;
        continue;
      }
      // one pass over the lines: what frames the body, and the lines to pass on as slices between
      // the ones dropped
      const own = this.handler.ownHeader;
      const ownPrefix = this.handler.ownPrefix;
      let length = -1;
      let chunked = false;
      let close = text.charCodeAt(7) === 48; // HTTP/1.0
      let contentType = '';
      let hasDate = false;
      let block = '';
      const first = text.indexOf('\r\n');
      let kept = first === -1 ? text.length : first + 2;
      let at = first;
      while (at !== -1) {
        const from = at + 2;
        const next = text.indexOf('\r\n', from);
        const to = next === -1 ? text.length : next;
        at = next;
        const colon = text.indexOf(':', from);
        const len = colon - from;
        let drop = false;
        if (colon === -1 || colon > to || len === 0) drop = true;
        else if (len === 14 && nameIs(text, from, 'content-length')) length = Number(text.slice(colon + 1, to).trim());
        else if (len === 12 && nameIs(text, from, 'content-type')) contentType = text.slice(colon + 1, to).trim();
        else if (len === 4 && nameIs(text, from, 'date')) hasDate = true;
        else if (len === 17 && nameIs(text, from, 'transfer-encoding')) {
          chunked = text.slice(colon + 1, to).trim().toLowerCase().endsWith('chunked');
          drop = true;
        } else if (len === 10 && nameIs(text, from, 'connection')) {
          const v = text.slice(colon + 1, to).toLowerCase();
          if (v.includes('close')) close = true;
          else if (v.includes('keep-alive')) close = false;
          drop = true;
        } else {
          drop =
            (len === 12 && nameIs(text, from, 'x-request-id')) ||
            (len === own.length && nameIs(text, from, own)) ||
            (ownPrefix !== '' && len > ownPrefix.length && nameIs(text, from, ownPrefix)) ||
            isHopByHop(text, from, len);
        }
        if (drop) {
          if (from > kept) block += text.slice(kept, from);
          kept = to + 2;
        }
      }
      if (kept < text.length) block += `${text.slice(kept)}\r\n`;
      if (chunked && length !== -1) {
        // both framings named: chunked wins and the length is not passed on (RFC 9112 §6.3)
        block = block
          .split('\r\n')
          .filter((l) => !(l.length > 14 && nameIs(l, 0, 'content-length:')))
          .join('\r\n');
        length = -1;
      }
      if (this.isHead || status === 204 || status === 304) this.#mode = 'none';
      else if (chunked) this.#mode = 'chunked';
      else if (length >= 0 && Number.isSafeInteger(length)) {
        this.#mode = length === 0 ? 'none' : 'length';
        this.#remaining = length;
      } else this.#mode = 'close';
      if (close || this.#mode === 'close') this.#conn!.reusable = false;
      this.#started = true;
      this.handler.onStart(new ResponseHead(status, block, contentType, length, hasDate));
      return rest;
    }
  }

  #protocolError(detail: string): void {
    const conn = this.#conn;
    if (conn) {
      this.#conn = undefined;
      conn.destroy();
    }
    this.#done = true;
    this.handler.onError(new UpstreamError(`bad response from the backend: ${detail}`, 'SB_BAD_RESPONSE'));
  }

  #body(conn: Conn, d: Buffer): void {
    switch (this.#mode) {
      case 'none':
        if (d.length > 0) conn.reusable = false;
        return this.#finish(conn);
      case 'close':
        this.handler.onData(d);
        return;
      case 'length':
        if (d.length < this.#remaining) {
          this.#remaining -= d.length;
          this.handler.onData(d);
          return;
        }
        if (d.length > this.#remaining) conn.reusable = false;
        this.handler.onData(d.length === this.#remaining ? d : d.subarray(0, this.#remaining));
        this.#remaining = 0;
        if (!this.#done) this.#finish(conn);
        return;
      case 'chunked':
        return this.#chunked(conn, d);
    }
  }

  /**
   * Walks the chunked framing. Normally each chunk's bytes are handed on as a slice of the packet,
   * framing removed. In passthrough mode the framed bytes are handed on as they came, once per
   * packet, for a client connection that speaks chunked itself; a size line split across packets
   * is held back until it is whole, and the last chunk (size 0) and trailers are never handed on,
   * so the proxy always writes the ending itself (a clean one, or an error event after a cut).
   */
  #chunked(conn: Conn, input: Buffer): void {
    const pass = this.passthrough;
    let d = input;
    if (this.#held) {
      d = Buffer.concat([this.#held, input]);
      this.#held = undefined;
    }
    let i = 0;
    const n = d.length;
    /** passthrough: what is handed on starts here (the packet's first byte; a held line is part of it) */
    const from = 0;
    while (i < n && !this.#done) {
      switch (this.#chunkState) {
        case 'data': {
          const take = Math.min(this.#remaining, n - i);
          if (!pass) this.handler.onData(i === 0 && take === n ? d : d.subarray(i, i + take));
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) {
            this.#chunkState = 'data-crlf';
            this.#remaining = 2;
          }
          break;
        }
        case 'data-crlf': {
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#chunkState = 'size';
          break;
        }
        case 'size':
        case 'trailer': {
          const lineStart = i;
          const lf = d.indexOf(10, i);
          if (lf === -1) {
            if (pass) {
              if (!this.#tail && lineStart > from) this.handler.onData(d.subarray(from, lineStart));
              this.#held = d.subarray(lineStart);
              if (this.#held.length > 4096) this.#protocolError('chunk size line too long');
              return;
            }
            this.#sizeLine += d.toString('latin1', i, n);
            if (this.#sizeLine.length > 4096) return this.#protocolError('chunk size line too long');
            return;
          }
          let size = -1;
          if (this.#chunkState === 'size' && this.#sizeLine === '') size = hexAt(d, i, lf);
          const line = size >= 0 ? '' : (this.#sizeLine + d.toString('latin1', i, lf)).trim();
          this.#sizeLine = '';
          i = lf + 1;
          if (this.#chunkState === 'trailer') {
            if (line === '') {
              if (i < n) conn.reusable = false;
              return this.#finish(conn);
            }
            break;
          }
          if (size < 0) {
            const semi = line.indexOf(';');
            size = parseInt(semi === -1 ? line : line.slice(0, semi), 16);
            if (!(size >= 0)) return this.#protocolError('bad chunk size');
          }
          if (size === 0) {
            this.#chunkState = 'trailer';
            if (pass && !this.#tail) {
              // the ending is the proxy's to write: hand on what came before it, nothing after
              if (lineStart > from) this.handler.onData(d.subarray(from, lineStart));
              this.#tail = true;
            }
          } else {
            this.#chunkState = 'data';
            this.#remaining = size;
            this.chunkCount++;
          }
          break;
        }
      }
    }
    if (pass && !this.#tail && !this.#done && i > from) this.handler.onData(from === 0 && i === n ? d : d.subarray(from, i));
  }

  /**
   * Passthrough only, after the backend went away mid-body: the bytes that finish the frame the
   * client is in the middle of (newlines for the missing data, then CRLF), so the proxy can add
   * its own last chunk; undefined when the client is at a frame boundary.
   */
  completeFrame(): Buffer | undefined {
    if (!this.passthrough || this.#tail) return undefined;
    if (this.#chunkState === 'data') {
      const fill = Buffer.alloc(this.#remaining + 2, 10);
      fill[fill.length - 2] = 13;
      return fill;
    }
    if (this.#chunkState === 'data-crlf') return Buffer.from(this.#remaining === 2 ? '\r\n' : '\n');
    return undefined;
  }

  #finish(conn: Conn): void {
    this.#done = true;
    this.#conn = undefined;
    conn.call = undefined;
    this.pool.release(conn);
    this.handler.onEnd();
  }
}

/**
 * The chunk size on a line from `from` to the LF at `lf` when it is plain hex digits (an optional
 * CR before the LF); -1 otherwise (extensions, spaces, too long: the string path reads those).
 */
function hexAt(d: Buffer, from: number, lf: number): number {
  const end = lf > from && d[lf - 1] === 13 ? lf - 1 : lf;
  if (end === from || end - from > 12) return -1;
  let v = 0;
  for (let j = from; j < end; j++) {
    const c = d[j]!;
    const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (h === -1) return -1;
    v = v * 16 + h;
  }
  return v;
}

/** One socket to one origin. */
export class Conn {
  call: Call | undefined;
  reusable = true;
  reused = false;
  idleSinceMs = 0;
  #closed = false;

  constructor(
    readonly socket: Socket,
    readonly pool: UpstreamPool,
    readonly origin: Origin,
  ) {
    // TLS sockets read through the stream; plain ones through readInto (see connectFor)
    if (origin.tls) socket.on('data', (d: Buffer) => this.received(d));
    socket.on('error', (err: NodeJS.ErrnoException) => this.#closedBy(new UpstreamError(err.message, err.code ?? 'ECONNRESET')));
    socket.on('close', () => this.#closedBy(new UpstreamError('the backend closed the connection', 'SB_CLOSED')));
    socket.on('end', () => socket.end());
  }

  received(d: Buffer): void {
    if (this.call) this.call.feed(this, d);
    else this.destroy(); // bytes nobody asked for: the connection cannot be trusted
  }

  #closedBy(err: UpstreamError): void {
    if (!this.#closed) {
      this.#closed = true;
      this.pool.forget(this);
    }
    const call = this.call;
    this.call = undefined;
    call?.connFailed(this, err);
  }

  destroy(): void {
    this.reusable = false;
    this.call = undefined;
    this.socket.destroy();
  }
}

export interface PoolOptions {
  /** Idle connections older than this are closed. */
  keepAliveMs: number;
  /** Idle connections kept per origin; more are closed when released. */
  maxIdlePerOrigin: number;
}

export class UpstreamPool {
  readonly #idle = new Map<string, Conn[]>();
  #sweep: NodeJS.Timeout;

  constructor(readonly options: PoolOptions) {
    this.#sweep = setInterval(() => this.#closeStale(Date.now()), Math.max(1000, Math.min(options.keepAliveMs / 4, 15_000)));
    this.#sweep.unref();
  }

  /** Sends `request` (head and body buffers) to `origin`; the handler hears the response. */
  request(origin: Origin, request: Buffer[], isHead: boolean, handler: ResponseHandler, connectTimeoutMs: number): Call {
    const call = new Call(this, origin, request, isHead, handler, connectTimeoutMs);
    const idle = this.#idle.get(origin.key);
    const conn = idle?.pop();
    if (conn) {
      conn.reused = true;
      call.attach(conn);
    } else this.connectFor(call);
    return call;
  }

  /** Opens a new connection for `call`. */
  connectFor(call: Call): void {
    const { origin, connectTimeoutMs } = call;
    const socket = origin.tls
      ? connectTls({ host: origin.host, port: origin.port, servername: isIP(origin.host) ? '' : origin.host }).setNoDelay(true)
      : connect({
          host: origin.host,
          port: origin.port,
          noDelay: true,
          // reads land in one shared buffer and are copied out at their size, instead of a new
          // 64 KiB allocation, an ArrayBuffer and a stream 'data' event per read; pause() and
          // resume() still apply
          onread: onreadCopying((bytes) => conn.received(bytes)),
        });
    // (the read callback runs after connect, by when conn is set)
    const conn = new Conn(socket, this, origin);
    if (connectTimeoutMs > 0) {
      socket.setTimeout(connectTimeoutMs, () => {
        const c = conn.call;
        conn.call = undefined;
        conn.destroy();
        c?.connFailed(conn, new UpstreamError(`no connection within ${connectTimeoutMs} ms`, 'SB_CONNECT_TIMEOUT'));
      });
      socket.once('connect', () => socket.setTimeout(0));
    }
    call.attach(conn);
  }

  release(conn: Conn): void {
    if (!conn.reusable || conn.socket.destroyed) {
      conn.destroy();
      return;
    }
    let idle = this.#idle.get(conn.origin.key);
    if (!idle) {
      idle = [];
      this.#idle.set(conn.origin.key, idle);
    }
    if (idle.length >= this.options.maxIdlePerOrigin) {
      conn.destroy();
      return;
    }
    conn.idleSinceMs = Date.now();
    idle.push(conn);
  }

  /** A connection closed: it leaves the idle stack. */
  forget(conn: Conn): void {
    const idle = this.#idle.get(conn.origin.key);
    if (!idle) return;
    const i = idle.indexOf(conn);
    if (i !== -1) idle.splice(i, 1);
  }

  #closeStale(nowMs: number): void {
    for (const idle of this.#idle.values()) {
      while (idle.length > 0 && nowMs - idle[0]!.idleSinceMs > this.options.keepAliveMs) idle.shift()!.destroy();
    }
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const idle of this.#idle.values()) for (const c of idle.splice(0)) c.destroy();
  }
}
