// Deterministic replies. A reply is drawn from a Random seeded by (sim seed, request seed,
// model, prompt), so the same request to a sim with the same --seed gives the same text and
// length, whatever else the sim is doing. Each piece the generator returns is exactly one token
// under tokenizer.ts (words are at most 8 characters), so usage counts match the text.
import { seededRandom, type Random } from '../core/index.js';
import { mix32 } from './hash.js';

const WORDS = [
  'the', 'a', 'model', 'engine', 'router', 'token', 'tokens', 'batch', 'cache', 'prefix',
  'request', 'reply', 'stream', 'fleet', 'node', 'server', 'queue', 'slot', 'latency', 'budget',
  'of', 'to', 'and', 'in', 'on', 'for', 'with', 'from', 'by', 'at', 'is', 'was', 'are', 'will',
  'can', 'may', 'should', 'keeps', 'sends', 'reads', 'writes', 'routes', 'serves', 'waits',
  'fills', 'drains', 'scales', 'learns', 'returns', 'answers', 'quickly', 'slowly', 'often',
  'rarely', 'always', 'never', 'each', 'every', 'some', 'many', 'few', 'more', 'less', 'new',
  'old', 'fast', 'small', 'large', 'warm', 'cold', 'healthy', 'busy', 'idle', 'ready', 'simple',
  'careful', 'steady', 'shared', 'local', 'remote', 'first', 'last', 'next', 'this', 'that',
  'it', 'we', 'you', 'they', 'one', 'two', 'three', 'time', 'work', 'data', 'answer', 'question',
  'system', 'network', 'memory', 'context', 'window', 'prompt', 'output', 'input', 'result',
  'because', 'while', 'when', 'then', 'so', 'but', 'if', 'not', 'also', 'only', 'still', 'here',
];

export type FinishReason = 'stop' | 'length';

export interface ReplyPlan {
  /** Tokens the reply will have (1..maxTokens). */
  outputTokens: number;
  finishReason: FinishReason;
}

/**
 * The reply's length: max_tokens ("length"), or with probability earlyStopRate an earlier end
 * ("stop", like an end-of-sequence token). ignoreEos (vLLM's benchmark flag) always runs to max.
 */
export function planReply(seed: number, maxTokens: number, earlyStopRate: number, ignoreEos: boolean): ReplyPlan {
  if (ignoreEos || maxTokens <= 1 || earlyStopRate <= 0) return { outputTokens: maxTokens, finishReason: 'length' };
  const r = seededRandom(mix32(seed, 0x51ed270b));
  if (r.next() >= earlyStopRate) return { outputTokens: maxTokens, finishReason: 'length' };
  return { outputTokens: 1 + Math.floor(r.next() * (maxTokens - 1)), finishReason: 'stop' };
}

/** Produces a reply one token piece at a time: sentences of words, ending with '.' on a stop. */
export class TextGenerator {
  readonly #r: Random;
  #n = 0;
  #wordsLeft = 0;
  #sentenceEnded = true;
  #comma = false;

  constructor(
    seed: number,
    readonly total: number,
    readonly finishReason: FinishReason,
  ) {
    this.#r = seededRandom(seed);
  }

  /** The next piece (the first has no leading space). */
  next(): string {
    this.#n++;
    if (this.#n === this.total && this.finishReason === 'stop' && this.#n > 1) return '.';
    if (this.#wordsLeft === 0) {
      if (!this.#sentenceEnded) {
        this.#sentenceEnded = true;
        return '.';
      }
      this.#sentenceEnded = false;
      this.#wordsLeft = 4 + Math.floor(this.#r.next() * 10);
      const word = this.#word();
      return `${this.#n === 1 ? '' : ' '}${word.charAt(0).toUpperCase()}${word.slice(1)}`;
    }
    if (this.#wordsLeft > 1 && !this.#comma && this.#r.next() < 0.06) {
      this.#comma = true;
      return ',';
    }
    this.#comma = false;
    return ` ${this.#word()}`;
  }

  #word(): string {
    this.#wordsLeft--;
    return WORDS[Math.floor(this.#r.next() * WORDS.length)]!;
  }

  /** The whole reply at once (non-streamed responses). */
  all(): string {
    let s = '';
    for (let i = 0; i < this.total; i++) s += this.next();
    return s;
  }
}
