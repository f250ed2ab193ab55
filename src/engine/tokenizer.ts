// A deterministic stand-in for a BPE tokenizer, cheap enough for the hot path (one pass over
// the text, no regex, no substrings). The rule, documented in docs/configuration.md:
//   - whitespace is free (it belongs to the next token, as in BPE);
//   - a run of word characters (ASCII letters, digits, '_', and any non-ASCII character) is one
//     token per started 8 characters ("tokenization" = 2 tokens);
//   - every other visible character (punctuation, symbols) is one token.
// English prose comes out at roughly 1.2 tokens per word, close to real tokenizers. A token's
// id is the FNV-1a hash of its text, so equal text gives equal ids (what prefix caching keys on).
import { fnv1a } from './hash.js';

export const WORD_PIECE_CHARS = 8;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function isSpace(c: number): boolean {
  return c <= 32 || c === 0x85 || c === 0xa0 || (c >= 0x2000 && c <= 0x200b) || c === 0x2028 || c === 0x2029 || c === 0x3000 || c === 0xfeff;
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}

/** Appends the token ids of text to out (and returns it). */
export function tokenize(text: string, out: number[] = []): number[] {
  let h = FNV_OFFSET;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isWordChar(c) && !isSpace(c)) {
      h = Math.imul(h ^ c, FNV_PRIME);
      if (++run === WORD_PIECE_CHARS) {
        out.push(h >>> 0);
        h = FNV_OFFSET;
        run = 0;
      }
      continue;
    }
    if (run > 0) {
      out.push(h >>> 0);
      h = FNV_OFFSET;
      run = 0;
    }
    if (!isSpace(c)) out.push(Math.imul(FNV_OFFSET ^ c, FNV_PRIME) >>> 0);
  }
  if (run > 0) out.push(h >>> 0);
  return out;
}

/** The number of tokens of text (same rule, without building the ids). */
export function countTokens(text: string): number {
  let n = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isWordChar(c) && !isSpace(c)) {
      if (run++ % WORD_PIECE_CHARS === 0) n++;
      continue;
    }
    run = 0;
    if (!isSpace(c)) n++;
  }
  return n;
}

// Chat template tokens (ChatML-like): each message is <|im_start|> role content <|im_end|>, and
// the prompt ends with <|im_start|> assistant, i.e. 3 tokens per message + 2, as real templates add.
const IM_START = fnv1a('<|im_start|>');
const IM_END = fnv1a('<|im_end|>');
const ASSISTANT = fnv1a('assistant');

export interface ChatTurn {
  role: string;
  /** The message's text (parts already joined). */
  text: string;
}

/** Token ids of a chat prompt rendered through the template. */
export function tokenizeChat(turns: readonly ChatTurn[]): number[] {
  const out: number[] = [];
  for (const t of turns) {
    out.push(IM_START, fnv1a(t.role));
    tokenize(t.text, out);
    out.push(IM_END);
  }
  out.push(IM_START, ASSISTANT);
  return out;
}
