// One client request as it moves through the router: what it asked for, which backends were
// tried, what came back. Policies (auth, rate limits, usage records) read it when it ends.
import type { IncomingHttpHeaders } from 'node:http';
import type { Backend } from './backend.js';
import type { RequestInfo } from './request-info.js';

/** What the proxy path reads of a request: node's IncomingMessage, or the raw front's RawRequest. */
export interface ClientRequest {
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  readonly socket: { readonly remoteAddress?: string | undefined };
  /**
   * The raw front's (undefined on node:http): the header lines to forward as the client sent them,
   * hop-by-hop ones, host, content-length, x-request-id and x-forwarded-for taken out; and the
   * values of those last two.
   */
  readonly passHeaders?: string;
  /** The raw front's: one header's first value (lower-case name) without building rawHeaders. */
  header?(name: string): string | undefined;
  readonly requestIdHeader?: string | undefined;
  readonly forwardedFor?: string | undefined;
}

type HeaderValue = string | number | string[];

/** What the proxy path does to a response: node's ServerResponse, or the raw front's RawResponse. */
export interface ClientResponse {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  /** `headers` as an object, or as node also takes them: a flat list name, value, name, value... */
  writeHead(status: number, headers?: Record<string, HeaderValue> | string[]): unknown;
  setHeader(name: string, value: HeaderValue): unknown;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  cork(): void;
  uncork(): void;
  destroy(): unknown;
  once(event: 'close' | 'drain', fn: () => void): unknown;
  /**
   * The raw front's: the head from header lines as they are ("name: value\r\n" each); the
   * response is chunked unless they have a content-length.
   */
  writeHeadLines?(status: number, lines: string, hasLength: boolean, hasDate: boolean): unknown;
  /** The raw front's: header lines added to whichever head goes out ("name: value\r\n" each). */
  addHeaderLines?(lines: string): void;
  /** The raw front's: whether the response went out chunked, and a write of bytes already framed. */
  readonly chunked?: boolean;
  writeFramed?(bytes: Buffer): boolean;
}

export interface Exchange {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly requestId: string;
  readonly startMono: number;
  readonly startMs: number;
  readonly method: string;
  /** Path and query as the client sent them (forwarded unchanged, after the backend's base path). */
  readonly url: string;
  /** The url's path (no query), as the front or node's handler cut it once for routing. */
  readonly path: string;
  /** The request body forwarded (rewritten when an alias maps the model). */
  body: Buffer;
  readonly info: RequestInfo;
  /** The model routed on (after alias / canary resolution); the client's own is info.model. */
  model: string | undefined;
  /** Bounded metrics label for the model. */
  modelLabel: string;
  variant: string;
  keyName: string | undefined;
  sessionKey: string | undefined;
  /** Backends tried so far, in order. */
  readonly tried: Set<Backend>;
  backend: Backend | undefined;
  status: number;
  ttftMs: number | undefined;
  promptTokens: number;
  completionTokens: number;
  /** The client went away before the end. */
  clientGone: boolean;
  /** A name prefix of headers the router puts on the response itself ('' for none): the backend's so named are dropped. */
  ownHeaderPrefix: string;
  /** The rate-limit reservation an admitted request holds, settled to its real tokens when it ends. */
  reservation: { settle(actualTokens: number): Promise<void> } | undefined;
  /** Run once when the exchange ends, whatever the outcome. */
  readonly onEnd: ((ex: Exchange) => void)[];
}
