// The proxy path: picks a backend, forwards the raw request bytes on a keep-alive connection and
// streams the response back unchanged, with backpressure both ways and abort propagation (a
// client that leaves cancels the upstream request at once and never counts against the backend).
// Retries happen only while no byte has reached the client: on a connect error, a reset, a 5xx or
// a timeout before the response starts, on a different backend, within the attempt limit and the
// retry budget. A stream the backend cuts ends with an SSE error event, never with [DONE].
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { describeError, sbError, type Clock, type Logger, type SwitchboardError, type TimerHandle } from '../core/index.js';
import type { Backend } from './backend.js';
import { createBalancer, type Balancer, type BalancerOptions } from './balancers/index.js';
import type { ModelSettings, PolicyName, RouterConfig, Timeouts } from './config.js';
import type { Exchange } from './exchange.js';
import type { RouterEvents } from './events.js';
import type { RouterMetrics } from './metrics.js';
import { sendOpenAIError, sseErrorEvent } from './reply.js';
import { RetryBudget } from './retry-budget.js';
import type { ServiceTable } from './table.js';
import { UpstreamPool, type Call, type ResponseHandler, type ResponseHead } from './upstream-pool.js';
import { usageObjectAt, usageOfJson } from './usage-scan.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);
const DONE = Buffer.from('data: [DONE]');
/** How much of the last reads is searched for the final usage object. */
const USAGE_SEARCH_BYTES = 2048;
/** How much of a stream's end is kept to find [DONE] in, across reads. */
const TAIL_BYTES = 64;
const DATA = Buffer.from('data:');
/** Non-streamed bodies up to this size are kept to read `usage` from; larger ones are not. */
const USAGE_BODY_LIMIT = 256 * 1024;

type FailureKind = 'connect' | 'refused' | 'timeout' | 'reset' | 'status_5xx' | 'stream_cut';

function classify(err: Error): FailureKind {
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'SB_CONNECT_TIMEOUT' || code === 'SB_FIRST_BYTE_TIMEOUT' || code === 'SB_IDLE_TIMEOUT' || code === 'SB_TOTAL_TIMEOUT') return 'timeout';
  if (code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') return 'connect';
  return 'reset';
}

function errorFor(kind: FailureKind): SwitchboardError {
  if (kind === 'timeout') return sbError('SB_ERR_UPSTREAM_TIMEOUT');
  if (kind === 'refused') return sbError('SB_ERR_UPSTREAM_REFUSED');
  return sbError('SB_ERR_UPSTREAM_FAILED');
}

class Timeout extends Error {
  constructor(
    message: string,
    readonly code: 'SB_TOTAL_TIMEOUT' | 'SB_FIRST_BYTE_TIMEOUT' | 'SB_IDLE_TIMEOUT',
  ) {
    super(message);
  }
}
/** Drops a 5xx response for another attempt on one of these backends. */
class RetryAbort extends Error {
  constructor(readonly candidates: Backend[]) {
    super('retrying elsewhere');
  }
}
class ClientGone extends Error {}

/** Replaces every occurrence of each pair's first buffer by its second. */
function rewriteAll(chunk: Buffer, pairs: [Buffer, Buffer][]): Buffer {
  let out = chunk;
  for (const [from, to] of pairs) {
    let i = out.indexOf(from);
    if (i === -1) continue;
    const parts: Buffer[] = [];
    let start = 0;
    while (i !== -1) {
      parts.push(out.subarray(start, i), to);
      start = i + from.length;
      i = out.indexOf(from, start);
    }
    parts.push(out.subarray(start));
    out = Buffer.concat(parts);
  }
  return out;
}

/**
 * The header lines to forward: the client's, minus hop-by-hop, plus the request id and
 * X-Forwarded-For ("name: value\r\n" each; Host and Content-Length are added per attempt).
 */
function forwardHeaders(ex: Exchange): string {
  const req = ex.req;
  const addr = req.socket.remoteAddress ?? '';
  if (req.passHeaders !== undefined) {
    // the raw front: the client's own lines, already without the ones dropped here
    const xff = req.forwardedFor;
    return `${req.passHeaders}x-request-id: ${ex.requestId}\r\nx-forwarded-for: ${xff ? `${xff}, ${addr}` : addr}\r\n`;
  }
  const raw = req.rawHeaders;
  let out = '';
  let xff: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k) || k === 'x-request-id') continue;
    if (k === 'x-forwarded-for') {
      xff = raw[i + 1];
      continue;
    }
    out += `${k}: ${raw[i + 1]!}\r\n`;
  }
  return `${out}x-request-id: ${ex.requestId}\r\nx-forwarded-for: ${xff ? `${xff}, ${addr}` : addr}\r\n`;
}

/** A flat header list without its content-length. */
function withoutContentLength(list: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() !== 'content-length') out.push(list[i]!, list[i + 1]!);
  return out;
}

/** The request head (latin1) and body for the socket: one buffer when the body is small, two when it is not. */
function packRequest(head: string, body: Buffer): Buffer[] {
  if (body.length > 16 * 1024) return [Buffer.from(head, 'latin1'), body];
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  return [out];
}

/** How often the sweep looks for timeouts: a quarter of the shortest one configured, 5-250 ms. */
function sweepInterval(config: RouterConfig): number {
  let min = Math.min(config.timeouts.firstByteMs, config.timeouts.idleMs, config.timeouts.totalMs);
  for (const m of Object.values(config.models ?? {})) {
    const t = m.timeouts;
    if (t) min = Math.min(min, t.firstByteMs ?? min, t.idleMs ?? min, t.totalMs ?? min);
  }
  return Math.max(5, Math.min(250, Math.floor(min / 4)));
}

export class Proxy {
  readonly pool: UpstreamPool;
  readonly budget: RetryBudget;
  readonly #balancers = new Map<string, Balancer>();
  /** Runs in progress: one sweep enforces their timeouts (no timer per request). */
  readonly active = new Set<Run>();
  #sweep: TimerHandle | undefined;
  #config: RouterConfig;
  #sweepMs: number;
  /** The backend-name header, lower case. */
  ownHeader: string;

  constructor(
    config: RouterConfig,
    readonly table: ServiceTable,
    readonly metrics: RouterMetrics,
    readonly clock: Clock,
    readonly log: Logger,
    readonly balancerOptions: BalancerOptions,
    /** Called when passive health ejects a backend (schedules its re-admission probe). */
    readonly onEject: (b: Backend, durationMs: number) => void,
    readonly events: RouterEvents,
  ) {
    this.#config = config;
    this.#sweepMs = sweepInterval(config);
    this.ownHeader = config.backendHeader.toLowerCase();
    this.pool = new UpstreamPool({ keepAliveMs: 60_000, maxIdlePerOrigin: 1024 });
    const r = config.retries;
    this.budget = new RetryBudget(r.budgetRatio, r.budgetMinPerSecond, r.budgetWindowMs, clock);
    const sweep = (): void => {
      const now = clock.monotonic();
      for (const run of this.active) run.checkTimeouts(now);
      this.#sweep = clock.setTimeout(sweep, this.#sweepMs);
    };
    this.#sweep = clock.setTimeout(sweep, this.#sweepMs);
  }

  get config(): RouterConfig {
    return this.#config;
  }

  /** A reload: the sweep follows the new timeouts. */
  set config(next: RouterConfig) {
    this.#config = next;
    this.#sweepMs = sweepInterval(next);
    this.ownHeader = next.backendHeader.toLowerCase();
  }

  balancerFor(model: string | undefined, policy: PolicyName): Balancer {
    const key = model ?? '';
    let b = this.#balancers.get(key);
    // one balancer per model; a reload that changes the model's policy replaces it
    if (b?.policy !== policy) {
      b = createBalancer(policy, this.balancerOptions);
      this.#balancers.set(key, b);
    }
    return b;
  }

  /** Sends the exchange on its way under the model's settings (the caller has looked them up). */
  forward(ex: Exchange, settings: ModelSettings): void {
    const headers = forwardHeaders(ex);
    this.budget.recordFirst();
    const run = new Run(this, ex, settings.policy, settings.timeouts, headers);
    run.next(undefined);
  }

  /** Counts a failed attempt against the backend; ejects it when passive health says so. */
  blame(b: Backend, kind: FailureKind, detail: string): void {
    b.errorCount++;
    this.metrics.upstreamErrors.labels(b.name, kind).inc();
    this.log.warn({ backend: b.name, kind, detail }, 'backend attempt failed');
    const ejectMs = b.passive.fail();
    if (ejectMs > 0) {
      if (this.table.canEject(b)) {
        b.passive.eject(ejectMs);
        this.metrics.ejections.labels(b.name).inc();
        this.table.touch();
        this.log.warn({ backend: b.name, ejectMs, ejections: b.passive.ejections }, 'backend ejected (passive health)');
        this.events.add('ejection', b.name, undefined, `${kind}: ${detail}; out for ${ejectMs} ms`);
        this.onEject(b, ejectMs);
      } else {
        this.log.warn({ backend: b.name }, 'backend would be ejected, but the cap on ejected backends for its models is reached');
      }
    }
  }

  close(): Promise<void> {
    this.#sweep?.cancel();
    this.pool.close();
    return Promise.resolve();
  }
}

/** One request's attempts, from first pick to the last byte. */
class Run {
  #attempt = 0;
  #current: Upstream | undefined;
  #lastError: SwitchboardError | undefined;
  readonly deadline: number;
  #timedOut = false;
  #ended = false;

  constructor(
    readonly proxy: Proxy,
    readonly ex: Exchange,
    readonly policy: PolicyName,
    readonly timeouts: Timeouts,
    readonly headers: string,
  ) {
    this.deadline = proxy.clock.monotonic() + timeouts.totalMs;
    proxy.active.add(this);
    ex.res.once('close', () => {
      if (!ex.res.writableFinished && !this.#ended) {
        ex.clientGone = true;
        this.proxy.metrics.clientAborts.labels(ex.modelLabel).inc();
        if (this.#current) this.#current.abort(new ClientGone('client closed the connection'));
        else this.finish();
      }
    });
  }

  /** Called by the sweep: the total deadline, then the current attempt's first-byte and idle limits. */
  checkTimeouts(now: number): void {
    if (this.#timedOut || this.#ended) return;
    if (this.deadline <= now) {
      this.#timedOut = true;
      this.#current?.abort(new Timeout(`no complete response within ${this.timeouts.totalMs} ms`, 'SB_TOTAL_TIMEOUT'));
      return;
    }
    this.#current?.checkTimeouts(now, this.timeouts);
  }

  /** Tries the next backend, or answers with the last error when there is none or retrying is not allowed. */
  next(failure: SwitchboardError | undefined, candidates?: Backend[]): void {
    const { ex, proxy } = this;
    if (failure) this.#lastError = failure;
    if (ex.clientGone) return this.finish();
    if (this.#attempt === 0) {
      candidates = proxy.table.candidates(ex.model, ex.info.endpoint, ex.tried);
      if (candidates.length === 0) {
        this.#lastError = sbError('SB_ERR_NO_HEALTHY_BACKENDS', ex.model);
        return this.#fail();
      }
    } else {
      candidates ??= this.retryCandidates();
      if (!candidates) return this.#fail();
    }
    const b = proxy.balancerFor(ex.model, this.policy).pick(candidates, { sessionKey: ex.sessionKey })!;
    if (this.#attempt > 0) {
      proxy.metrics.retries.labels(ex.modelLabel).inc();
      proxy.events.add('failover', b.name, ex.model, `after ${[...ex.tried].map((x) => x.name).join(', ')} failed (${this.#lastError?.message ?? 'error'})`);
    }
    this.#attempt++;
    ex.tried.add(b);
    ex.backend = b;
    const up = new Upstream(this, b);
    this.#current = up;
    up.start();
  }

  /**
   * The backends another attempt could go to, when attempts, time and the retry budget allow one
   * (the budget is only spent when there is somewhere to go); undefined otherwise.
   */
  retryCandidates(): Backend[] | undefined {
    const { ex, proxy } = this;
    if (this.#attempt >= proxy.config.retries.attempts || this.#timedOut) return undefined;
    const candidates = proxy.table.candidates(ex.model, ex.info.endpoint, ex.tried);
    if (candidates.length === 0) return undefined;
    if (!proxy.budget.tryRetry()) {
      proxy.log.warn({ requestId: ex.requestId }, 'retry budget spent; not retrying');
      return undefined;
    }
    return candidates;
  }

  #fail(): void {
    const err = this.#lastError ?? sbError('SB_ERR_UPSTREAM_FAILED');
    const ex = this.ex;
    ex.status = err.statusCode;
    const headers: Record<string, string> = { 'x-request-id': ex.requestId };
    if (ex.backend) headers[this.proxy.config.backendHeader] = ex.backend.name;
    sendOpenAIError(ex.res, err, headers);
    this.finish();
  }

  /** Ends the exchange exactly once. */
  finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.proxy.active.delete(this);
    this.#current = undefined;
    const ex = this.ex;
    for (const fn of ex.onEnd) {
      try {
        fn(ex);
      } catch (err) {
        this.proxy.log.error({ err: describeError(err), requestId: ex.requestId }, 'end-of-request hook failed');
      }
    }
  }
}

/** One attempt on one backend: a pool call whose response is written straight into the client's. */
class Upstream implements ResponseHandler {
  #call: Call | undefined;
  #headersSent = false;
  #done = false;
  #paused = false;
  #sse = false;
  #sawDone = false;
  #chunks = 0;
  #last: Buffer | undefined;
  #prev: Buffer | undefined;
  /** Ends with the stream's last bytes (at least TAIL_BYTES of them once that many came). */
  #tail: Buffer | undefined;
  #corked = false;
  /** The backend's chunked framing passes through as it is (see UpstreamPool's passthrough). */
  #framed = false;
  /** `"model":"<served>"` → `"model":"<asked>"` when the client used an alias. */
  #rewrite: [Buffer, Buffer][] | undefined;
  #firstChunkMono = 0;
  #lastChunkMono = 0;
  #sentMono = 0;
  #kept: Buffer[] | undefined;
  #keptBytes = 0;

  constructor(
    readonly run: Run,
    readonly backend: Backend,
  ) {}

  start(): void {
    const { proxy, ex, timeouts, headers } = this.run;
    const b = this.backend;
    b.inFlight++;
    b.requestCount++;
    this.#sentMono = proxy.clock.monotonic();
    const method = ex.method;
    const withBody = ex.body.length > 0 || method === 'POST' || method === 'PUT' || method === 'PATCH';
    const head = `${method} ${b.basePath}${ex.url} HTTP/1.1\r\nhost: ${b.target.key}\r\n${headers}${withBody ? `content-length: ${ex.body.length}\r\n` : ''}\r\n`;
    const request = packRequest(head, ex.body);
    this.#call = proxy.pool.request(b.target, request, method === 'HEAD', this, timeouts.connectMs);
  }

  abort(reason: Error): void {
    if (this.#done) return;
    this.#call?.abort(reason);
  }

  /** The sweep's look at this attempt: no response head within firstByteMs, or no data for idleMs. */
  checkTimeouts(now: number, t: Timeouts): void {
    if (this.#done) return;
    if (!this.#headersSent) {
      if (now - this.#sentMono >= t.firstByteMs) this.abort(new Timeout(`no response within ${t.firstByteMs} ms`, 'SB_FIRST_BYTE_TIMEOUT'));
    } else if (!this.#paused && now - this.#lastChunkMono >= t.idleMs) {
      this.abort(new Timeout(`no data for ${t.idleMs} ms`, 'SB_IDLE_TIMEOUT'));
    }
  }

  #release(): void {
    if (this.#done) return;
    this.#done = true;
    this.backend.inFlight--;
  }

  /** The backend's own backend-name header is not passed on (lower case, as the pool compares it). */
  get ownHeader(): string {
    return this.run.proxy.ownHeader;
  }

  /** Headers the gateway put on the response (its x-ratelimit-*): the backend's of that prefix are not passed on. */
  get ownPrefix(): string {
    return this.run.ex.ownHeaderPrefix;
  }

  onStart(head: ResponseHead): void {
    const { proxy, ex } = this.run;
    const b = this.backend;
    const statusCode = head.status;
    const now = proxy.clock.monotonic();
    this.#lastChunkMono = now;
    b.series ??= { latency: proxy.metrics.upstreamLatency.labels(b.name) };
    b.series.latency.observe((now - this.#sentMono) / 1000);
    if (statusCode >= 500) {
      proxy.blame(b, 'status_5xx', `answered ${statusCode}`);
      const retryTo = statusCode !== 501 && statusCode !== 505 ? this.run.retryCandidates() : undefined;
      if (retryTo) {
        this.#call!.abort(new RetryAbort(retryTo));
        return;
      }
    } else {
      b.passive.succeed();
    }
    const ct = head.contentType;
    const len = head.contentLength;
    this.#sse = ct.includes('text/event-stream');
    if (!this.#sse && statusCode < 300 && (ct === '' || ct.includes('json'))) {
      if (len <= USAGE_BODY_LIMIT) this.#kept = [];
    }
    const asked = ex.info.model;
    if (asked !== undefined && ex.model !== undefined && asked !== ex.model) {
      const from = JSON.stringify(ex.model);
      const to = JSON.stringify(asked);
      this.#rewrite = [
        [Buffer.from(`"model":${from}`), Buffer.from(`"model":${to}`)],
        [Buffer.from(`"model": ${from}`), Buffer.from(`"model": ${to}`)],
      ];
    }
    ex.status = statusCode;
    ex.backend = b;
    this.#headersSent = true;
    const backendHeader = proxy.config.backendHeader;
    if (!this.#rewrite && ex.res.writeHeadLines) {
      // the raw front: the backend's lines as they came, then ours
      ex.res.writeHeadLines(statusCode, `${head.block}x-request-id: ${ex.requestId}\r\n${backendHeader}: ${b.name}\r\n`, len !== -1, head.hasDate);
    } else {
      // node:http takes a flat list; a rewritten body changes length, so it goes out chunked
      const out = this.#rewrite ? withoutContentLength(head.list) : [...head.list];
      out.push('x-request-id', ex.requestId, backendHeader, b.name);
      ex.res.writeHead(statusCode, out);
    }
    // a chunked stream to a client we write chunked ourselves: the framing goes through as it is
    if (this.#sse && !this.#rewrite && ex.res.chunked === true && ex.res.writeFramed && this.#call!.chunked) {
      this.#call!.passthrough = true;
      this.#framed = true;
    }
  }

  onData(data: Buffer): void {
    const { proxy, ex } = this.run;
    const chunk = this.#rewrite ? rewriteAll(data, this.#rewrite) : data;
    const now = proxy.clock.monotonic();
    if (this.#chunks === 0) {
      this.#firstChunkMono = now;
      if (this.#sse) ex.ttftMs = now - ex.startMono;
    }
    this.#lastChunkMono = now;
    this.#chunks++;
    if (this.#sse) this.#tapSse(chunk);
    else if (this.#kept) {
      this.#keptBytes += chunk.length;
      if (this.#keptBytes > USAGE_BODY_LIMIT) this.#kept = undefined;
      else this.#kept.push(chunk);
    }
    // chunks parsed from one upstream read go out in one write: cork now, uncork after this tick
    if (this.#sse && !this.#corked) {
      this.#corked = true;
      ex.res.cork();
      process.nextTick(this.#uncork);
    }
    if (!(this.#framed ? ex.res.writeFramed!(chunk) : ex.res.write(chunk))) {
      this.#paused = true;
      this.#call!.pause();
      ex.res.once('drain', this.#resume);
    }
  }

  readonly #resume = (): void => {
    this.#paused = false;
    this.#lastChunkMono = this.run.proxy.clock.monotonic();
    this.#call?.resume();
  };

  readonly #uncork = (): void => {
    this.#corked = false;
    this.run.ex.res.uncork();
  };

  /**
   * O(1) per chunk: the tap only remembers the last two chunks; [DONE] and the final usage object
   * are looked for in them when the stream ends (engines send both in the last events).
   */
  #tapSse(chunk: Buffer): void {
    this.#prev = this.#last;
    this.#last = chunk;
    // the stream's last bytes whatever the packet sizes: `data: [DONE]` split over reads is still seen
    if (chunk.length >= TAIL_BYTES) this.#tail = chunk;
    else {
      const joined = this.#tail ? Buffer.concat([this.#tail, chunk]) : chunk;
      this.#tail = joined.length > TAIL_BYTES ? joined.subarray(joined.length - TAIL_BYTES) : joined;
    }
  }

  #endOfStream(): void {
    const tail = this.#tail;
    if (tail && tail.subarray(Math.max(0, tail.length - TAIL_BYTES)).includes(DONE)) this.#sawDone = true;
    // the usage object comes in the last event before [DONE]: only the stream's last bytes are
    // searched (a passed-through read can hold a whole stream)
    for (const c of [this.#prev, this.#last]) {
      if (!c) continue;
      const from = Math.max(0, c.length - USAGE_SEARCH_BYTES);
      const u = usageObjectAt(c.toString('latin1', from), 0);
      if (u !== -1) this.#readStreamUsage(c, from + u);
    }
  }

  /** The usage object of the final chunk (stream_options.include_usage), when a backend sends it. */
  #readStreamUsage(chunk: Buffer, at: number): void {
    const start = chunk.lastIndexOf(DATA, at);
    const end = chunk.indexOf(10, at);
    if (start === -1) return;
    try {
      const ev = JSON.parse(chunk.subarray(start + 5, end === -1 ? chunk.length : end).toString('utf8')) as { usage?: { prompt_tokens?: number; completion_tokens?: number } | null };
      if (ev.usage) this.#setUsage(ev.usage);
    } catch {
      // a usage object split across chunks: fall back to counted chunks
    }
  }

  #setUsage(u: { prompt_tokens?: number | undefined; completion_tokens?: number | undefined }): void {
    const ex = this.run.ex;
    if (typeof u.prompt_tokens === 'number') ex.promptTokens = u.prompt_tokens;
    if (typeof u.completion_tokens === 'number') ex.completionTokens = u.completion_tokens;
  }

  onEnd(): void {
    const { proxy, ex } = this.run;
    const b = this.backend;
    this.#release();
    const seconds = (proxy.clock.monotonic() - this.#sentMono) / 1000;
    b.recordResponseTime(seconds);
    if (this.#sse) {
      this.#endOfStream();
      // without a usage object: about one token per content chunk (role and [DONE] chunks aside)
      // (passthrough hands on one piece per read: the pool counted the chunks)
      const chunks = this.#framed ? this.#call!.chunkCount : this.#chunks;
      if (ex.completionTokens === 0) ex.completionTokens = Math.max(0, chunks - (this.#sawDone ? 2 : 1));
      if (chunks > 1 && ex.completionTokens > 1) {
        proxy.metrics.tpot.labels(ex.modelLabel).observe((this.#lastChunkMono - this.#firstChunkMono) / 1000 / (ex.completionTokens - 1));
      }
      if (!this.#sawDone && ex.status < 300) {
        this.#cut('the backend closed the stream without [DONE]');
        return;
      }
    } else if (this.#kept && this.#kept.length > 0) {
      // read the two counts after "usage":{ without parsing the whole body
      const u = usageOfJson(this.#kept.length === 1 ? this.#kept[0]! : Buffer.concat(this.#kept));
      if (u) this.#setUsage(u);
    }
    ex.res.end();
    this.run.finish();
  }

  /** The backend stopped in the middle of a stream: an explicit error event, no [DONE]. */
  #cut(detail: string): void {
    const { proxy, ex } = this.run;
    proxy.blame(this.backend, 'stream_cut', detail);
    proxy.metrics.streamCuts.labels(this.backend.name).inc();
    proxy.events.add('stream_cut', this.backend.name, ex.model, detail);
    proxy.log.warn({ requestId: ex.requestId, backend: this.backend.name, detail }, 'stream cut by the backend');
    ex.status = 502;
    // passthrough: the client may be in the middle of a frame the backend never finished
    const fill = this.#framed ? this.#call!.completeFrame() : undefined;
    if (fill) ex.res.writeFramed!(fill);
    ex.res.end(sseErrorEvent(sbError('SB_ERR_STREAM_CUT', this.backend.name, detail)));
    this.run.finish();
  }

  onError(err: Error): void {
    const { proxy, ex } = this.run;
    this.#release();
    if (err instanceof RetryAbort) {
      this.run.next(errorFor('status_5xx'), err.candidates);
      return;
    }
    if (err instanceof ClientGone || ex.clientGone) {
      // the client left: never the backend's fault
      this.run.finish();
      return;
    }
    const kind = classify(err);
    if (!this.#headersSent) {
      proxy.blame(this.backend, kind, describeError(err));
      this.run.next(errorFor(kind));
      return;
    }
    if (this.#sse) {
      this.#cut(kind === 'timeout' ? `no data for ${this.run.timeouts.idleMs} ms or the total timeout passed` : describeError(err));
      return;
    }
    proxy.blame(this.backend, kind, describeError(err));
    proxy.log.warn({ requestId: ex.requestId, backend: this.backend.name, err: describeError(err) }, 'response cut by the backend');
    ex.status = 502;
    ex.res.destroy();
    this.run.finish();
  }
}
