// What the router needs to know about a request before it picks a backend: the endpoint (from
// the path, with InfiniLM's un-prefixed aliases), and from a JSON body the model, whether it
// streams, max_tokens and a session key. A body on an OpenAI endpoint that is not valid JSON, or a
// `model` that is not a string, is a 400 naming the problem; on other paths the request is routed
// without a model, as the original did.
//
// Small bodies are parsed with JSON.parse. Large ones (long prompts, RAG contexts) are scanned for
// the top-level fields only (json-scan.ts), which costs a fraction of a full parse; the full
// object is then built only if a policy asks for it (`body`). A large body the scanner cannot
// read is parsed in full, so malformed JSON still gets the 400 naming the problem.
import type { ClientRequest } from './exchange.js';
import { sbError, type SwitchboardError } from '../core/index.js';
import { scanTopLevel, type TopValue } from './json-scan.js';
import type { Endpoint } from './table.js';

const ENDPOINTS: Record<string, Endpoint> = {
  '/v1/chat/completions': 'chat',
  '/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/embeddings': 'embeddings',
  '/v1/rerank': 'rerank',
  '/rerank': 'rerank',
  '/v2/rerank': 'rerank',
};

/** Bodies at least this large are scanned instead of parsed. */
export const SCAN_MIN_BYTES = 16 * 1024;
const FIELDS: ReadonlySet<string> = new Set(['model', 'stream', 'max_tokens', 'max_completion_tokens', 'prompt_cache_key']);

export function endpointOf(path: string): Endpoint {
  return ENDPOINTS[path] ?? 'other';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class RequestInfo {
  model: string | undefined = undefined;
  stream = false;
  maxTokens: number | undefined = undefined;
  promptCacheKey: string | undefined = undefined;
  /** The parsed body: null until asked for (scanned bodies), undefined when not a JSON object. */
  #body: Record<string, unknown> | undefined | null;

  constructor(
    readonly endpoint: Endpoint,
    private readonly raw: Buffer,
    parsed: Record<string, unknown> | undefined | null,
  ) {
    this.#body = parsed;
  }

  /** The JSON body as an object (policies read it; aliases rewrite it); parsed on first use. */
  get body(): Record<string, unknown> | undefined {
    if (this.#body === null) {
      try {
        const v: unknown = JSON.parse(this.raw.toString('utf8'));
        this.#body = isObject(v) ? v : undefined;
      } catch {
        this.#body = undefined;
      }
    }
    return this.#body;
  }
}

/** The top-level values fill() reads: a parsed body itself, or the scanned ones. */
interface RoutingFields {
  readonly model?: unknown;
  readonly stream?: unknown;
  readonly max_tokens?: unknown;
  readonly max_completion_tokens?: unknown;
  readonly prompt_cache_key?: unknown;
}

/**
 * Fills the routing fields from the body's top-level values; an error names a bad one. Named
 * property reads, not a getter by key: on a parsed body a read by a variable key is a
 * megamorphic keyed load each (measured on the request path).
 */
function fill(info: RequestInfo, f: RoutingFields, strict: boolean): SwitchboardError | undefined {
  const model = f.model;
  if (model !== undefined) {
    if (typeof model !== 'string' || model === '') {
      if (strict) return sbError('SB_ERR_INVALID_FIELD', 'model', 'a non-empty string').withParam('model');
    } else info.model = model;
  }
  const stream = f.stream;
  if (stream !== undefined && typeof stream !== 'boolean' && strict) return sbError('SB_ERR_INVALID_FIELD', 'stream', 'a boolean').withParam('stream');
  info.stream = stream === true;
  const mt = f.max_completion_tokens ?? f.max_tokens;
  if (typeof mt === 'number' && Number.isFinite(mt) && mt >= 0) info.maxTokens = mt;
  const pck = f.prompt_cache_key;
  if (typeof pck === 'string' && pck !== '') info.promptCacheKey = pck;
  return undefined;
}

/** The scanned values as RoutingFields; a field present as an object or array (undefined in the scan) reads as {}: "not a string". */
function scannedFields(top: ReadonlyMap<string, TopValue>): RoutingFields {
  const get = (k: string): TopValue | object => (top.has(k) && top.get(k) === undefined ? {} : top.get(k));
  return { model: get('model'), stream: get('stream'), max_tokens: get('max_tokens'), max_completion_tokens: get('max_completion_tokens'), prompt_cache_key: get('prompt_cache_key') };
}

export function parseRequestInfo(endpoint: Endpoint, method: string, raw: Buffer): RequestInfo | SwitchboardError {
  if (method !== 'POST' || raw.length === 0) return new RequestInfo(endpoint, raw, undefined);
  const strict = endpoint !== 'other';
  if (raw.length >= SCAN_MIN_BYTES) {
    const top = scanTopLevel(raw, FIELDS);
    if (top) {
      const info = new RequestInfo(endpoint, raw, null);
      return fill(info, scannedFields(top), strict) ?? info;
    }
  }
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    if (!strict) return new RequestInfo(endpoint, raw, undefined);
    return sbError('SB_ERR_INVALID_JSON', (err as Error).message);
  }
  if (!isObject(body)) {
    if (!strict) return new RequestInfo(endpoint, raw, undefined);
    return sbError('SB_ERR_INVALID_FIELD', 'body', 'a JSON object').withParam('body');
  }
  const info = new RequestInfo(endpoint, raw, body);
  return fill(info, body, strict) ?? info;
}

/**
 * A request's session key, from the first source that has one: the body's `prompt_cache_key`,
 * the session header, the client address; or only from `source` when one is named.
 */
export function sessionKeyOf(req: ClientRequest, info: RequestInfo, header: string, source?: 'prompt_cache_key' | 'header' | 'client'): string | undefined {
  if (source === undefined || source === 'prompt_cache_key') {
    if (info.promptCacheKey !== undefined) return info.promptCacheKey;
  }
  if (source === undefined || source === 'header') {
    // the raw front reads one header off the head; node's headers object is built on first use
    const h = req.header ? req.header(header.toLowerCase()) : req.headers[header.toLowerCase()];
    if (typeof h === 'string' && h !== '') return h;
  }
  if (source === undefined || source === 'client') return req.socket.remoteAddress;
  return undefined;
}
