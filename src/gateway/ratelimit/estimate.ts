// How many tokens to reserve for a request before it runs: the prompt, estimated from its text
// (characters / 4 is OpenAI's own rule of thumb for English), plus the most the completion may
// use (max_completion_tokens or max_tokens, times n). The reservation is settled to the real
// usage when the response ends, so the estimate only has to be the right size, not exact.

export interface EstimateOptions {
  /** Completion tokens assumed for a generation request without max_tokens. Default 256. */
  defaultMaxTokens?: number;
  /** Default 4. */
  charsPerToken?: number;
}

/** Tokens of overhead per chat message (role, separators), as OpenAI's cookbook counts them. */
const PER_MESSAGE = 4;
const MAX_N = 128;

interface Tally {
  chars: number;
  tokens: number;
}

/** Fields that are not prompt text: a role or part type is covered by PER_MESSAGE, and a
 * base64 image would count hundreds of times its real cost. */
const NOT_TEXT = new Set(['role', 'type', 'image_url', 'input_audio']);

/** Counts string characters (and token ids: numbers inside arrays) under v; object keys are not text. */
function walk(v: unknown, t: Tally, depth: number): void {
  if (typeof v === 'string') t.chars += v.length;
  else if (Array.isArray(v)) {
    for (const x of v) {
      if (typeof x === 'number') t.tokens++;
      else if (depth < 16) walk(x, t, depth + 1);
    }
  } else if (v !== null && typeof v === 'object' && depth < 16) {
    for (const k in v) if (!NOT_TEXT.has(k)) walk((v as Record<string, unknown>)[k], t, depth + 1);
  }
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** Estimated prompt tokens of a request body (chat, completions, embeddings, rerank). */
export function estimatePromptTokens(body: unknown, charsPerToken = 4): number {
  if (body === null || typeof body !== 'object') return 0;
  const b = body as Record<string, unknown>;
  const t: Tally = { chars: 0, tokens: 0 };
  if (Array.isArray(b.messages)) {
    t.tokens += PER_MESSAGE * b.messages.length;
    walk(b.messages, t, 0);
  }
  // named reads, not a loop over the names: a read by a variable key on a parsed body is a
  // megamorphic keyed load each (measured on the request path)
  if (b.prompt !== undefined) walk(b.prompt, t, 0);
  if (b.input !== undefined) walk(b.input, t, 0);
  if (b.query !== undefined) walk(b.query, t, 0);
  if (b.documents !== undefined) walk(b.documents, t, 0);
  if (b.tools !== undefined) walk(b.tools, t, 0);
  if (b.functions !== undefined) walk(b.functions, t, 0);
  if (b.system !== undefined) walk(b.system, t, 0);
  return Math.ceil(t.chars / charsPerToken) + t.tokens;
}

/**
 * The reservation for one request: estimated prompt tokens plus its completion budget. Only
 * chat and completions generate (embeddings and rerank reserve their input only).
 */
export function estimateTokens(body: unknown, opts: EstimateOptions = {}): number {
  const prompt = estimatePromptTokens(body, opts.charsPerToken ?? 4);
  if (body === null || typeof body !== 'object') return prompt;
  const b = body as Record<string, unknown>;
  const generates = b.messages !== undefined || b.prompt !== undefined;
  if (!generates) return prompt;
  const max = positiveInt(b.max_completion_tokens) ?? positiveInt(b.max_tokens) ?? opts.defaultMaxTokens ?? 256;
  const n = Math.min(MAX_N, Math.max(1, positiveInt(b.n) ?? 1));
  return prompt + max * n;
}
