// Response bodies exactly as OpenAI shapes them (key order included), so official SDKs, vLLM's
// benchmark client and our router's tap read the sim like a real engine. Streamed chunks are
// built from a per-request prefix plus the piece: one string concatenation per token, no
// object per token.
import { type SwitchboardError } from '../core/index.js';
import type { FinishReason } from './text.js';

export const SYSTEM_FINGERPRINT = 'fp_switchboard_sim';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usage(prompt: number, completion: number, cached: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}

export interface StreamIds {
  id: string;
  created: number;
  model: string;
}

function head(ids: StreamIds, object: string): string {
  return `{"id":${JSON.stringify(ids.id)},"object":"${object}","created":${ids.created},"model":${JSON.stringify(ids.model)},"system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
}

/** Builds the `data:` lines of one streamed chat completion. */
export class ChatChunks {
  readonly #head: string;
  readonly #tail: string;

  constructor(readonly ids: StreamIds, includeUsage: boolean) {
    this.#head = head(ids, 'chat.completion.chunk');
    this.#tail = includeUsage ? '],"usage":null}' : ']}';
  }

  /** The first chunk: the assistant role with empty content (OpenAI sends it before any text). */
  role(): string {
    return `data: ${this.#head}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}${this.#tail}\n\n`;
  }

  content(piece: string): string {
    return `data: ${this.#head}{"index":0,"delta":{"content":${JSON.stringify(piece)}},"logprobs":null,"finish_reason":null}${this.#tail}\n\n`;
  }

  finish(reason: FinishReason): string {
    return `data: ${this.#head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${reason}"}${this.#tail}\n\n`;
  }

  /** With stream_options.include_usage: a last chunk with no choices and the usage. */
  usage(u: Usage): string {
    return `data: ${this.#head}],"usage":${JSON.stringify(u)}}\n\n`;
  }
}

/** Builds the `data:` lines of one streamed legacy completion (`text_completion`). */
export class CompletionChunks {
  readonly #head: string;
  readonly #tail: string;

  constructor(readonly ids: StreamIds, includeUsage: boolean) {
    this.#head = head(ids, 'text_completion');
    this.#tail = includeUsage ? '],"usage":null}' : ']}';
  }

  content(piece: string): string {
    return `data: ${this.#head}{"text":${JSON.stringify(piece)},"index":0,"logprobs":null,"finish_reason":null}${this.#tail}\n\n`;
  }

  finish(reason: FinishReason): string {
    return `data: ${this.#head}{"text":"","index":0,"logprobs":null,"finish_reason":"${reason}"}${this.#tail}\n\n`;
  }

  usage(u: Usage): string {
    return `data: ${this.#head}],"usage":${JSON.stringify(u)}}\n\n`;
  }
}

export const DONE = 'data: [DONE]\n\n';

export function chatCompletion(ids: StreamIds, text: string, reason: FinishReason, u: Usage): unknown {
  return {
    id: ids.id,
    object: 'chat.completion',
    created: ids.created,
    model: ids.model,
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: reason }],
    usage: u,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}

export function textCompletion(ids: StreamIds, text: string, reason: FinishReason, u: Usage): unknown {
  return {
    id: ids.id,
    object: 'text_completion',
    created: ids.created,
    model: ids.model,
    choices: [{ text, index: 0, logprobs: null, finish_reason: reason }],
    usage: u,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}

export function modelList(ids: readonly string[], created: number, maxModelLen: number): unknown {
  return {
    object: 'list',
    data: ids.map((id) => ({ id, object: 'model', created, owned_by: 'switchboard-sim', root: id, parent: null, max_model_len: maxModelLen })),
  };
}

/** llama.cpp's body while a model loads (it is what its clients and our agent look for). */
export const LOADING_BODY = { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } };

/** The OpenAI error envelope; model_not_found keeps OpenAI's/vLLM's wire code. */
export function errorBody(e: SwitchboardError): unknown {
  if (e.code === 'SB_ERR_ENGINE_LOADING') return LOADING_BODY;
  const code = e.code === 'SB_ERR_ENGINE_MODEL_NOT_FOUND' ? 'model_not_found' : e.code;
  return { error: { message: e.message, type: e.type, param: e.param, code } };
}
