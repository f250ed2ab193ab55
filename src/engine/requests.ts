// Request bodies of the OpenAI surface, validated field by field: a bad request gets a 400 that
// names the field (`messages[1].content`) and what was expected, and nothing is half-applied.
// Parameters the sim does not model (temperature, top_p, stop, ...) are type-checked and
// otherwise ignored, as an engine that honours them would not fail on them either.
import { sbError, type SwitchboardError } from '../core/index.js';
import type { ChatTurn } from './tokenizer.js';

type Obj = Record<string, unknown>;

function invalid(field: string, expected: string): SwitchboardError {
  return sbError('SB_ERR_INVALID_FIELD', field, expected).withParam(field);
}

function missing(field: string): SwitchboardError {
  return sbError('SB_ERR_MISSING_FIELD', field).withParam(field);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function body(v: unknown): Obj {
  if (!isObj(v)) throw sbError('SB_ERR_INVALID_FIELD', 'body', 'a JSON object');
  return v;
}

function optString(o: Obj, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(k, 'a string');
  return v;
}

function optBool(o: Obj, k: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(k, 'true or false');
  return v;
}

function optInt(o: Obj, k: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(k, `an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`);
  return v;
}

function optNumber(o: Obj, k: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw invalid(k, `a number from ${min} to ${max}`);
  return v;
}

function isTokenArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0 && t <= 0xffffffff);
}

export interface GenerationRequest {
  model: string | undefined;
  maxTokens: number | undefined;
  stream: boolean;
  includeUsage: boolean;
  seed: number | undefined;
  temperature: number | undefined;
  ignoreEos: boolean;
}

function generation(o: Obj): GenerationRequest {
  const stream = optBool(o, 'stream') ?? false;
  let includeUsage = false;
  const so = o.stream_options;
  if (so !== undefined && so !== null) {
    if (!isObj(so)) throw invalid('stream_options', 'an object');
    if (!stream) throw invalid('stream_options', 'to be set only when stream is true');
    includeUsage = optBool(so, 'include_usage') ?? false;
  }
  const n = optInt(o, 'n', 1);
  if (n !== undefined && n !== 1) throw invalid('n', 'n = 1 (the sim generates one choice per request)');
  const stop = o.stop;
  if (stop !== undefined && stop !== null && typeof stop !== 'string' && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))) {
    throw invalid('stop', 'a string or an array of strings');
  }
  optNumber(o, 'top_p', 0, 1);
  optNumber(o, 'presence_penalty', -2, 2);
  optNumber(o, 'frequency_penalty', -2, 2);
  const seed = o.seed;
  if (seed !== undefined && seed !== null && (typeof seed !== 'number' || !Number.isInteger(seed))) throw invalid('seed', 'an integer');
  return {
    model: optString(o, 'model'),
    maxTokens: optInt(o, 'max_completion_tokens', 1) ?? optInt(o, 'max_tokens', 1),
    stream,
    includeUsage,
    seed: typeof seed === 'number' ? seed : undefined,
    temperature: optNumber(o, 'temperature', 0, 2),
    ignoreEos: optBool(o, 'ignore_eos') ?? false,
  };
}

export interface ChatRequest extends GenerationRequest {
  turns: ChatTurn[];
}

function messageText(content: unknown, at: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(at, 'a string or an array of content parts');
  let text = '';
  content.forEach((part, j) => {
    if (!isObj(part) || typeof part.type !== 'string') throw invalid(`${at}[${j}]`, 'a content part object with a string "type"');
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw invalid(`${at}[${j}].text`, 'a string');
      text += (text ? '\n' : '') + part.text;
    } else {
      // images, audio, files: a placeholder token each (the sim does not look inside them)
      text += (text ? '\n' : '') + `<${part.type}>`;
    }
  });
  return text;
}

export function parseChatRequest(value: unknown): ChatRequest {
  const o = body(value);
  const messages = o.messages;
  if (messages === undefined) throw missing('messages');
  if (!Array.isArray(messages) || messages.length === 0) throw invalid('messages', 'a non-empty array of message objects');
  const turns = messages.map((m: unknown, i): ChatTurn => {
    if (!isObj(m)) throw invalid(`messages[${i}]`, 'an object with "role" and "content"');
    if (typeof m.role !== 'string' || m.role === '') throw invalid(`messages[${i}].role`, 'a non-empty string');
    return { role: m.role, text: messageText(m.content, `messages[${i}].content`) };
  });
  return { ...generation(o), turns };
}

export interface CompletionRequest extends GenerationRequest {
  /** Text, or token ids given by the client. */
  prompt: string | number[];
}

export function parseCompletionRequest(value: unknown): CompletionRequest {
  const o = body(value);
  const p = o.prompt;
  if (p === undefined || p === null) throw missing('prompt');
  let prompt: string | number[];
  if (typeof p === 'string') prompt = p;
  else if (isTokenArray(p) && p.length > 0) prompt = p;
  else if (Array.isArray(p) && p.length === 1 && (typeof p[0] === 'string' || isTokenArray(p[0]))) prompt = p[0];
  else if (Array.isArray(p) && p.length > 1) throw invalid('prompt', 'a single prompt (the sim does not batch several prompts in one request)');
  else throw invalid('prompt', 'a string, an array of one string, or an array of token ids');
  optBool(o, 'echo');
  optString(o, 'suffix');
  return { ...generation(o), prompt };
}

export interface EmbeddingsRequest {
  model: string | undefined;
  inputs: (string | number[])[];
  encodingFormat: 'float' | 'base64';
  dimensions: number | undefined;
}

export function parseEmbeddingsRequest(value: unknown): EmbeddingsRequest {
  const o = body(value);
  const input = o.input;
  if (input === undefined || input === null) throw missing('input');
  let inputs: (string | number[])[];
  if (typeof input === 'string') inputs = [input];
  else if (isTokenArray(input) && input.length > 0) inputs = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string' || isTokenArray(x))) inputs = input;
  else throw invalid('input', 'a string, an array of strings, or token ids (non-empty)');
  const fmt = optString(o, 'encoding_format') ?? 'float';
  if (fmt !== 'float' && fmt !== 'base64') throw invalid('encoding_format', '"float" or "base64"');
  return { model: optString(o, 'model'), inputs, encodingFormat: fmt, dimensions: optInt(o, 'dimensions', 1) };
}

export interface RerankRequest {
  model: string | undefined;
  query: string;
  documents: string[];
  topN: number | undefined;
  returnDocuments: boolean;
}

export function parseRerankRequest(value: unknown): RerankRequest {
  const o = body(value);
  if (o.query === undefined || o.query === null) throw missing('query');
  if (typeof o.query !== 'string') throw invalid('query', 'a string');
  const docs = o.documents;
  if (docs === undefined || docs === null) throw missing('documents');
  if (!Array.isArray(docs) || docs.length === 0) throw invalid('documents', 'a non-empty array of strings or {"text": ...} objects');
  const documents = docs.map((d: unknown, i) => {
    if (typeof d === 'string') return d;
    if (isObj(d) && typeof d.text === 'string') return d.text;
    throw invalid(`documents[${i}]`, 'a string or an object with a string "text"');
  });
  return {
    model: optString(o, 'model'),
    query: o.query,
    documents,
    topN: optInt(o, 'top_n', 1) ?? optInt(o, 'top_k', 1),
    returnDocuments: optBool(o, 'return_documents') ?? true,
  };
}
