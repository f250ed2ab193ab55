// Request ids: taken from the client's x-request-id when it is sane, otherwise generated.
// Generation is a per-process random prefix plus a counter: unique across processes, and far
// cheaper on the hot path than randomUUID().
import { randomBytes } from 'node:crypto';

const PREFIX = randomBytes(6).toString('base64url');
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${PREFIX}-${counter.toString(36)}`;
}

const MAX_ID = 128;

/** The client's id when it is 1..128 visible ASCII characters without separators; else undefined. */
export function acceptRequestId(value: string | undefined): string | undefined {
  if (value === undefined || value.length === 0 || value.length > MAX_ID) return undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // visible ASCII, excluding characters that would let an id break a log or header line
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c) return undefined;
  }
  return value;
}
