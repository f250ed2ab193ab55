// OpenAI's rate-limit headers, so clients and SDKs that read them (the official SDKs honour
// retry-after-ms and retry-after) back off correctly:
//   x-ratelimit-limit-requests / -tokens      the per-minute limit
//   x-ratelimit-remaining-requests / -tokens  what is left now
//   x-ratelimit-reset-requests / -tokens      until the bucket is full again: "1s", "6m0s", "20ms"

/** A duration as OpenAI writes it (Go's time.Duration style): "20ms", "1.5s", "6m0s", "1h2m3s". */
export function formatResetDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  const totalMs = Math.ceil(ms);
  if (totalMs < 1000) return `${totalMs}ms`;
  const h = Math.floor(totalMs / 3_600_000);
  const m = Math.floor((totalMs % 3_600_000) / 60_000);
  const s = (totalMs % 60_000) / 1000;
  const sec = `${+s.toFixed(3)}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

export interface BucketReading {
  limit: number;
  remaining: number;
  resetMs: number;
}

// A limit is one of a few configured numbers: its text is made once (the header is on every
// response; number-to-string of a large limit showed in profiles). The cap is a guard.
const limitTexts = new Map<number, string>();
function limitText(n: number): string {
  let t = limitTexts.get(n);
  if (t === undefined) {
    t = String(n);
    if (limitTexts.size < 1024) limitTexts.set(n, t);
  }
  return t;
}

/** What every rate-limit header's name starts with. */
export const RATE_LIMIT_HEADER_PREFIX = 'x-ratelimit-';

/**
 * The six x-ratelimit-* headers from the tightest requests and tokens buckets (either may be
 * absent) as one block of lines ("name: value\r\n" each): what the router's raw response takes
 * on the request path, no object and no per-header call.
 */
export function rateLimitLines(requests: BucketReading | undefined, tokens: BucketReading | undefined): string {
  let s = '';
  if (requests) {
    s = `x-ratelimit-limit-requests: ${limitText(requests.limit)}\r\nx-ratelimit-remaining-requests: ${requests.remaining}\r\nx-ratelimit-reset-requests: ${formatResetDuration(requests.resetMs)}\r\n`;
  }
  if (tokens) {
    s += `x-ratelimit-limit-tokens: ${limitText(tokens.limit)}\r\nx-ratelimit-remaining-tokens: ${tokens.remaining}\r\nx-ratelimit-reset-tokens: ${formatResetDuration(tokens.resetMs)}\r\n`;
  }
  return s;
}

/** The same headers as an object (a refusal's 429, node:http responses, tests). */
export function rateLimitHeaders(requests: BucketReading | undefined, tokens: BucketReading | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  for (const line of rateLimitLines(requests, tokens).split('\r\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) h[line.slice(0, colon)] = line.slice(colon + 2);
  }
  return h;
}
