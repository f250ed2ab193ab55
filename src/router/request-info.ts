// What the router needs to know about a request before it picks a backend: the endpoint (from
// the path, with InfiniLM's un-prefixed aliases), and from a JSON body the model, whether it
// streams, max_tokens and a session key. A body on an OpenAI endpoint that is not valid JSON, or a
// `model` that is not a string, is a 400 naming the problem; on other paths the request is routed
// without a model, as the original did.
import { sbError, type SwitchboardError } from '../core/index.js';
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

export function endpointOf(path: string): Endpoint {
  return ENDPOINTS[path] ?? 'other';
}

export interface RequestInfo {
  endpoint: Endpoint;
  /** The parsed body when it was JSON (policies read it; aliases rewrite it). */
  body: Record<string, unknown> | undefined;
  model: string | undefined;
  stream: boolean;
  maxTokens: number | undefined;
  promptCacheKey: string | undefined;
}

export function parseRequestInfo(endpoint: Endpoint, method: string, raw: Buffer): RequestInfo | SwitchboardError {
  const info: RequestInfo = { endpoint, body: undefined, model: undefined, stream: false, maxTokens: undefined, promptCacheKey: undefined };
  if (method !== 'POST' || raw.length === 0) return info;
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    if (endpoint === 'other') return info;
    return sbError('SB_ERR_INVALID_JSON', (err as Error).message);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    if (endpoint === 'other') return info;
    return sbError('SB_ERR_INVALID_FIELD', 'body', 'a JSON object').withParam('body');
  }
  const b = body as Record<string, unknown>;
  info.body = b;
  const model = b.model;
  if (model !== undefined) {
    if (typeof model !== 'string' || model === '') {
      if (endpoint !== 'other') return sbError('SB_ERR_INVALID_FIELD', 'model', 'a non-empty string').withParam('model');
    } else info.model = model;
  }
  const stream = b.stream;
  if (stream !== undefined && typeof stream !== 'boolean' && endpoint !== 'other') return sbError('SB_ERR_INVALID_FIELD', 'stream', 'a boolean').withParam('stream');
  info.stream = stream === true;
  const mt = b.max_completion_tokens ?? b.max_tokens;
  if (typeof mt === 'number' && Number.isFinite(mt) && mt >= 0) info.maxTokens = mt;
  if (typeof b.prompt_cache_key === 'string' && b.prompt_cache_key !== '') info.promptCacheKey = b.prompt_cache_key;
  return info;
}
