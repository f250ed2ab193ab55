// The router's listening socket. Requests on the proxy path are read here, straight off the
// connection: the head is parsed once, the body is collected, and the response is written back on
// the same socket (one write for a head and a small body, chunked framing added by hand), because
// node:http's per-request machinery cost more CPU than the whole of nginx's proxying. Whatever this
// parser does not take on — local endpoints, HEAD, HTTP/1.0, chunked or Expect request bodies,
// upgrades, oversized bodies, anything malformed — is handed with its connection to node:http
// (bytes already read included), which then owns that connection and gives the standard answers.
import { Buffer } from 'node:buffer';
import { STATUS_CODES, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { pathOf } from '../core/index.js';
import { blockHas, headerList, isHopByHop, lowerBlock, nameIs } from './head.js';
import { slabAlloc } from './slab.js';
import { readAsStream, readShared } from './socket-reads.js';

export interface FrontOptions {
  /** Takes the connections this front does not serve itself. Never listens on its own. */
  readonly http: HttpServer;
  /** Whether a request with this method and path (query cut off) is served on the raw path. */
  claims(method: string, path: string): boolean;
  /** Serves one claimed request; `body` is complete. */
  handle(req: RawRequest, res: RawResponse, path: string, body: Buffer): void;
  /** Bodies larger than this go to node:http, which answers 413. */
  readonly maxBodyBytes: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveMs: number;
  /** A request head must arrive within this long. */
  readonly headersTimeoutMs: number;
}

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 16 * 1024;
/**
 * Whether buf[0, end) has a control character other than tab, or a CR or LF that is not part of a
 * CRLF: node:http decides what to say to those (and such bytes are never forwarded).
 */
function badHead(buf: Buffer, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = buf[i]!;
    if (c >= 32 && c !== 127) continue;
    if (c === 9) continue;
    if (c === 13 && i + 1 < end && buf[i + 1] === 10) {
      i++;
      continue;
    }
    return true;
  }
  return false;
}
const CHUNK_END = Buffer.from('0\r\n\r\n');
/** Body writes up to this size are framed into one buffer; larger ones are written in three parts. */
const COPY_LIMIT = 16 * 1024;

const HEX = Buffer.from('0123456789abcdef');

/** How many hex digits `n` (> 0) takes. */
function hexDigits(n: number): number {
  let d = 1;
  while (n >= 16) {
    n = Math.floor(n / 16);
    d++;
  }
  return d;
}

let dateText = '';
let dateSecond = 0;
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** What a request exposes of its connection. */
export interface Peer {
  readonly remoteAddress: string | undefined;
}

/** The request side of a raw exchange: what the proxy path reads of node's IncomingMessage. */
export class RawRequest {
  #rawHeaders: string[] | undefined;
  #headers: IncomingHttpHeaders | undefined;

  constructor(
    readonly method: string,
    readonly url: string,
    /** The head as received (latin1), without its blank line. */
    readonly head: string,
    /** Where the header lines begin in `head`. */
    readonly headersAt: number,
    /** The connection's peer (read once per connection: node's remoteAddress getter is not cheap). */
    readonly socket: Peer,
    /** The header lines to forward, as sent: hop-by-hop ones, host, content-length, x-request-id and x-forwarded-for out. */
    readonly passHeaders: string,
    readonly requestIdHeader: string | undefined,
    readonly forwardedFor: string | undefined,
  ) {}

  /** The first value of a header (`name` in lower case), read off the head without building the list. */
  header(name: string): string | undefined {
    const text = this.head;
    let at = this.headersAt - 2;
    while (at !== -1) {
      const from = at + 2;
      const next = text.indexOf('\r\n', from);
      const to = next === -1 ? text.length : next;
      at = next;
      const colon = from + name.length;
      if (colon < to && text.charCodeAt(colon) === 58 /* : */ && nameIs(text, from, name)) return text.slice(colon + 1, to).trim();
    }
    return undefined;
  }

  /** As sent: name, value, name, value... (built on first use). */
  get rawHeaders(): string[] {
    return (this.#rawHeaders ??= headerList(this.head.slice(this.headersAt)));
  }

  /** Lower-case names; repeated headers joined with ", " (built on first use). */
  get headers(): IncomingHttpHeaders {
    if (!this.#headers) {
      const h: Record<string, string> = {};
      const raw = this.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const k = raw[i]!.toLowerCase();
        const prev = h[k];
        h[k] = prev === undefined ? raw[i + 1]! : `${prev}, ${raw[i + 1]!}`;
      }
      this.#headers = h;
    }
    return this.#headers;
  }
}

interface ParsedHead {
  method: string;
  url: string;
  path: string;
  /** The body's length (content-length, 0 without one). */
  length: number;
  /** Where the header lines begin. */
  headers: number;
  pass: string;
  requestId: string | undefined;
  xff: string | undefined;
}

type HeaderValue = string | number | string[];

/** The response side: the subset of node's ServerResponse the proxy path uses, written on the socket. */
export class RawResponse {
  headersSent = false;
  writableFinished = false;
  statusCode = 200;
  #chunked = false;
  /** The head, until the first body bytes (or the end) carry it out. */
  #head: string | undefined;
  #preset: Map<string, HeaderValue> | undefined;
  /** Header lines the router adds as they are ("name: value\r\n" each): the gateway's x-ratelimit-*. */
  #lines = '';
  #onClose: (() => void)[] | undefined;

  constructor(readonly conn: Conn) {}

  setHeader(name: string, value: HeaderValue): this {
    (this.#preset ??= new Map()).set(name.toLowerCase(), value);
    return this;
  }

  /**
   * Header lines for the head, "name: value\r\n" each, added as they are: cheaper than a
   * setHeader per name for headers set on every response. The caller makes sure the names are
   * not also set another way (proxy: the backend's lines of the same names are dropped).
   */
  addHeaderLines(lines: string): void {
    this.#lines += lines;
  }

  writeHead(status: number, headers: Record<string, HeaderValue | undefined> | string[] = {}): this {
    if (this.headersSent) return this;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let hasLength = false;
    let hasDate = false;
    const add = (k: string, v: HeaderValue): void => {
      if (k === 'transfer-encoding' || k === 'connection' || k === 'keep-alive') return;
      if (k === 'content-length') hasLength = true;
      else if (k === 'date') hasDate = true;
      if (typeof v === 'object') for (const x of v) head += `${k}: ${x}\r\n`;
      else head += `${k}: ${v}\r\n`;
    };
    if (Array.isArray(headers)) {
      if (this.#preset) for (const [k, v] of this.#preset) if (!listHas(headers, k)) add(k, v);
      for (let i = 0; i < headers.length; i += 2) add(headers[i]!.toLowerCase(), headers[i + 1]!);
    } else {
      if (this.#preset) for (const [k, v] of this.#preset) if (!(k in headers)) add(k, v);
      for (const k in headers) {
        const v = headers[k];
        if (v !== undefined) add(k.toLowerCase(), v);
      }
    }
    return this.#headDone(status, head + this.#lines, hasLength, hasDate);
  }

  /**
   * The head from header lines passed on as they are ("name: value\r\n" each, without
   * transfer-encoding or connection); headers set before (setHeader) are added unless the lines
   * have them.
   */
  writeHeadLines(status: number, lines: string, hasLength: boolean, hasDate: boolean): this {
    if (this.headersSent) return this;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n${lines}${this.#lines}`;
    if (this.#preset) {
      const lower = lowerBlock(lines);
      for (const [k, v] of this.#preset) {
        if (k === 'transfer-encoding' || k === 'connection' || k === 'keep-alive' || blockHas(lower, k)) continue;
        if (k === 'content-length') hasLength = true;
        else if (k === 'date') hasDate = true;
        if (typeof v === 'object') for (const x of v) head += `${k}: ${x}\r\n`;
        else head += `${k}: ${v}\r\n`;
      }
    }
    return this.#headDone(status, head, hasLength, hasDate);
  }

  /** Framing, date and connection, then the head waits for the first body bytes. */
  #headDone(status: number, head: string, hasLength: boolean, hasDate: boolean): this {
    if (!hasLength && status !== 204 && status !== 304) {
      this.#chunked = true;
      head += 'transfer-encoding: chunked\r\n';
    }
    if (!hasDate) head += `date: ${httpDate()}\r\n`;
    if (this.conn.closeAfter) head += 'connection: close\r\n';
    this.statusCode = status;
    this.headersSent = true;
    // the head leaves with the first body bytes, in one buffer
    this.#head = `${head}\r\n`;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.headersSent) this.writeHead(this.statusCode);
    const socket = this.conn.socket;
    if (socket.destroyed) return false;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (data.length === 0) return true;
    const head = this.#head;
    this.#head = undefined;
    if (data.length > COPY_LIMIT) {
      const size = this.#chunked ? `${data.length.toString(16)}\r\n` : '';
      if (head !== undefined || size !== '') socket.write((head ?? '') + size, 'latin1');
      if (!this.#chunked) return socket.write(data);
      socket.write(data);
      return socket.write('\r\n', 'latin1');
    }
    // one buffer: [head] [hex size CRLF] data [CRLF]
    const headLen = head === undefined ? 0 : head.length;
    const digits = this.#chunked ? hexDigits(data.length) : 0;
    const prefix = headLen + (this.#chunked ? digits + 2 : 0);
    const framed = slabAlloc(prefix + data.length + (this.#chunked ? 2 : 0));
    if (head !== undefined) framed.write(head, 0, 'latin1');
    if (this.#chunked) {
      let v = data.length;
      for (let j = headLen + digits - 1; j >= headLen; j--, v >>>= 4) framed[j] = HEX[v & 15]!;
      framed[headLen + digits] = 13;
      framed[headLen + digits + 1] = 10;
      framed[framed.length - 2] = 13;
      framed[framed.length - 1] = 10;
    }
    data.copy(framed, prefix);
    return socket.write(framed);
  }

  /**
   * Bytes already in chunked framing (whole frames or the continuation of one), written as they
   * are: the proxy passes a backend's chunked stream through without re-framing it. Only for a
   * response that is chunked (its head had no content-length); end() then writes the last chunk.
   */
  writeFramed(bytes: Buffer): boolean {
    if (!this.#chunked) throw new Error('writeFramed on a response that is not chunked');
    const socket = this.conn.socket;
    if (socket.destroyed) return false;
    const head = this.#head;
    if (head === undefined) return socket.write(bytes);
    this.#head = undefined;
    if (bytes.length > COPY_LIMIT) {
      socket.write(head, 'latin1');
      return socket.write(bytes);
    }
    const out = slabAlloc(head.length + bytes.length);
    out.write(head, 0, 'latin1');
    bytes.copy(out, head.length);
    return socket.write(out);
  }

  /** Whether writeHead chose chunked framing. */
  get chunked(): boolean {
    return this.#chunked;
  }

  end(chunk?: Buffer | string): this {
    if (this.writableFinished) return this;
    if (!this.headersSent) {
      const length = chunk === undefined ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      this.writeHead(this.statusCode, { 'content-length': length });
    }
    if (chunk !== undefined) this.write(chunk);
    const socket = this.conn.socket;
    if (!socket.destroyed) {
      const head = this.#head;
      this.#head = undefined;
      if (this.#chunked) socket.write(head === undefined ? CHUNK_END : Buffer.from(head + '0\r\n\r\n', 'latin1'));
      else if (head !== undefined) socket.write(head, 'latin1');
    }
    this.writableFinished = true;
    this.conn.responseDone(this);
    return this;
  }

  cork(): void {
    this.conn.socket.cork();
  }

  uncork(): void {
    this.conn.socket.uncork();
  }

  destroy(): this {
    this.conn.socket.destroy();
    return this;
  }

  once(event: 'close' | 'drain', fn: () => void): this {
    if (event === 'drain') this.conn.socket.once('drain', fn);
    else (this.#onClose ??= []).push(fn);
    return this;
  }

  /** The connection closed before the response ended. */
  clientClosed(): void {
    const fns = this.#onClose;
    this.#onClose = undefined;
    if (fns) for (const fn of fns) fn();
  }
}

/** One client connection while the front serves it. */
class Conn {
  /** Bytes received and not yet consumed by a request. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes the request being received needs in all (head and body), once its head is parsed. */
  #need = 0;
  #res: RawResponse | undefined;
  /** When the connection went idle or the current head began (ms). */
  sinceMs = Date.now();
  closeAfter = false;
  #clientEnded = false;

  /** The client's address, as RawRequest.socket: read once here, not on each request. */
  readonly peer: Peer;

  constructor(
    readonly socket: Socket,
    readonly front: Front,
  ) {
    this.peer = { remoteAddress: socket.remoteAddress };
    // reads into the shared buffer when this Node allows it (socket-reads.ts), else 'data' events
    if (!readShared(socket, this.#onData)) socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', noop);
  }

  get idle(): boolean {
    return this.#res === undefined && this.#buffered === 0;
  }

  get waitingForHead(): boolean {
    return this.#res === undefined && this.#buffered > 0;
  }

  readonly #onData = (d: Buffer): void => {
    if (this.#buffered === 0 && this.#res === undefined) this.sinceMs = Date.now();
    this.#chunks.push(d);
    this.#buffered += d.length;
    if (this.#res !== undefined) {
      // a client sending ahead of its answers: stop reading until the answer is out
      if (this.#buffered > MAX_HEAD + this.front.options.maxBodyBytes) this.socket.pause();
      return;
    }
    // a body still arriving: nothing to look at until it is all here
    if (this.#buffered < this.#need) return;
    this.#next();
  };

  readonly #onEnd = (): void => {
    this.#clientEnded = true;
    if (this.#res === undefined) this.socket.end();
    else this.closeAfter = true;
  };

  readonly #onClose = (): void => {
    this.front.forget(this);
    const res = this.#res;
    this.#res = undefined;
    if (res && !res.writableFinished) res.clientClosed();
  };

  /** Parses and starts the next complete request, if one is buffered. */
  #next(): void {
    if (this.#buffered === 0 || this.#clientEnded) return;
    let buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [buf];
    const headEnd = buf.indexOf(CRLF2);
    if (headEnd === -1) {
      if (this.#buffered > MAX_HEAD) this.#handOff();
      return;
    }
    if (badHead(buf, headEnd)) return this.#handOff();
    const text = buf.toString('latin1', 0, headEnd);
    const req = this.#parseHead(text);
    if (req === undefined) return this.#handOff();
    const total = headEnd + 4 + req.length;
    if (req.length > this.front.options.maxBodyBytes) return this.#handOff();
    if (buf.length < total) {
      this.#need = total; // the body is still arriving
      return;
    }
    this.#need = 0;
    const body = buf.subarray(headEnd + 4, total);
    if (buf.length > total) {
      buf = buf.subarray(total);
      this.#chunks = [buf];
      this.#buffered = buf.length;
    } else {
      this.#chunks = [];
      this.#buffered = 0;
    }
    const res = new RawResponse(this);
    this.#res = res;
    this.front.options.handle(new RawRequest(req.method, req.url, text, req.headers, this.peer, req.pass, req.requestId, req.xff), res, req.path, body);
  }

  /** The request line and headers, or undefined when node:http should have the connection. */
  #parseHead(text: string): ParsedHead | undefined {
    const eol = text.indexOf('\r\n');
    const line = eol === -1 ? text : text.slice(0, eol);
    const sp1 = line.indexOf(' ');
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 === -1 || line.slice(sp2 + 1) !== 'HTTP/1.1') return undefined;
    const method = line.slice(0, sp1);
    const url = line.slice(sp1 + 1, sp2);
    if (url.charCodeAt(0) !== 47 /* / */) return undefined;
    const path = pathOf(url);
    if (method === 'HEAD' || !this.front.options.claims(method, path)) return undefined;
    // one pass over the header lines: what decides the hand-off, and the lines to forward as they
    // came (every line but the ones dropped, taken as slices between them)
    let length = -1;
    let host = false;
    let requestId: string | undefined;
    let xff: string | undefined;
    let pass = '';
    let kept = eol + 2;
    let at = eol;
    while (at !== -1) {
      const from = at + 2;
      const next = text.indexOf('\r\n', from);
      const to = next === -1 ? text.length : next;
      at = next;
      const colon = text.indexOf(':', from);
      // no name, a space before the colon, or a folded line: node:http's rules apply
      if (colon <= from || colon >= to) return undefined;
      const c0 = text.charCodeAt(from);
      const cb = text.charCodeAt(colon - 1);
      if (c0 === 32 || c0 === 9 || cb === 32 || cb === 9) return undefined;
      const len = colon - from;
      let drop = false;
      switch (len) {
        case 4:
          if (nameIs(text, from, 'host')) host = drop = true;
          break;
        case 6:
          if (nameIs(text, from, 'expect')) return undefined;
          break;
        case 7:
          if (nameIs(text, from, 'upgrade')) return undefined;
          break;
        case 10:
          if (nameIs(text, from, 'connection') && text.slice(colon + 1, to).toLowerCase().includes('close')) this.closeAfter = true;
          break;
        case 12:
          if (nameIs(text, from, 'x-request-id')) {
            requestId ??= text.slice(colon + 1, to).trim();
            drop = true;
          }
          break;
        case 14:
          if (nameIs(text, from, 'content-length')) {
            const value = text.slice(colon + 1, to).trim();
            if (length !== -1 || !/^\d{1,15}$/.test(value)) return undefined;
            length = Number(value);
            drop = true;
          }
          break;
        case 15:
          if (nameIs(text, from, 'x-forwarded-for')) {
            xff ??= text.slice(colon + 1, to).trim();
            drop = true;
          }
          break;
        case 17:
          if (nameIs(text, from, 'transfer-encoding')) return undefined;
          break;
      }
      if (drop || isHopByHop(text, from, len)) {
        if (from > kept) pass += text.slice(kept, from);
        kept = to + 2;
      }
    }
    if (!host) return undefined;
    if (kept < text.length) pass += `${text.slice(kept)}\r\n`;
    return { method, url, path, length: length === -1 ? 0 : length, headers: eol + 2, pass, requestId, xff };
  }

  /** node:http takes the connection, with the bytes not yet consumed. */
  #handOff(): void {
    const socket = this.socket;
    socket.pause();
    socket.removeListener('data', this.#onData);
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('close', this.#onClose);
    socket.removeListener('error', noop);
    readAsStream(socket);
    this.front.forget(this);
    if (this.#buffered > 0) socket.unshift(this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered));
    this.#chunks = [];
    this.#buffered = 0;
    this.front.options.http.emit('connection', socket);
    socket.resume();
  }

  responseDone(res: RawResponse): void {
    if (this.#res !== res) return;
    this.#res = undefined;
    this.sinceMs = Date.now();
    if (this.closeAfter || this.front.closing) {
      this.socket.end();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    // a pipelined request already here: after this tick, so the response's writes go first
    if (this.#buffered > 0) queueMicrotask(() => this.#next());
  }

  close(): void {
    this.socket.destroy();
  }
}

function noop(): void {}

/** Whether a flat header list (name, value, ...) names `name` (lower case). */
function listHas(list: readonly string[], name: string): boolean {
  for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() === name) return true;
  return false;
}

export class Front {
  readonly server: Server;
  readonly #conns = new Set<Conn>();
  closing = false;
  #sweep: NodeJS.Timeout | undefined;

  constructor(readonly options: FrontOptions) {
    // as node:http's own server: half-open allowed (a client may end its side before the answer), no Nagle
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.#conns.add(new Conn(socket, this));
    });
    this.server.on('listening', () => {
      // node:http starts its connection tracking (request and headers timeouts, closeAllConnections)
      // on 'listening'; it never listens itself here
      options.http.emit('listening');
      this.#sweep = setInterval(() => this.#closeStale(), 1000);
      this.#sweep.unref();
    });
  }

  forget(conn: Conn): void {
    this.#conns.delete(conn);
  }

  #closeStale(): void {
    const now = Date.now();
    const { keepAliveMs, headersTimeoutMs } = this.options;
    for (const c of this.#conns) {
      if ((c.idle && now - c.sinceMs > keepAliveMs) || (c.waitingForHead && now - c.sinceMs > headersTimeoutMs)) c.close();
    }
  }

  /** Stops accepting; in-flight requests (on either path) get up to graceMs, then every connection is cut. */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    clearInterval(this.#sweep);
    const http = this.options.http;
    const closed = new Promise<void>((resolve) => {
      if (this.server.listening) this.server.close(() => resolve());
      else resolve();
    });
    for (const c of this.#conns) if (c.idle) c.close();
    http.closeIdleConnections();
    const until = Date.now() + graceMs;
    while (this.#conns.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.#conns) c.close();
    http.closeAllConnections();
    // stops node:http's connection checks; it was never listening, so the callback gets an error
    http.close(noop);
    await closed;
  }
}
