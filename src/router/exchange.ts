// One client request as it moves through the router: what it asked for, which backends were
// tried, what came back. Policies (auth, rate limits, usage records) read it when it ends.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Backend } from './backend.js';
import type { RequestInfo } from './request-info.js';

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly startMono: number;
  readonly startMs: number;
  readonly method: string;
  /** Path and query as the client sent them (forwarded unchanged, after the backend's base path). */
  readonly url: string;
  /** The request body forwarded (rewritten when an alias maps the model). */
  body: Buffer;
  readonly info: RequestInfo;
  /** The model routed on (after alias / canary resolution); the client's own is info.model. */
  model: string | undefined;
  /** Bounded metrics label for the model. */
  modelLabel: string;
  variant: string;
  keyName: string | undefined;
  sessionKey: string | undefined;
  /** Backends tried so far, in order. */
  readonly tried: Set<Backend>;
  backend: Backend | undefined;
  status: number;
  ttftMs: number | undefined;
  promptTokens: number;
  completionTokens: number;
  /** The client went away before the end. */
  clientGone: boolean;
  /** Run once when the exchange ends, whatever the outcome. */
  readonly onEnd: ((ex: Exchange) => void)[];
}
