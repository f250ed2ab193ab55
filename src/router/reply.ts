// Answers the router writes itself, on the OpenAI surface: the OpenAI error envelope
// `{"error": {"message", "type", "param", "code"}}` that the official SDKs read, and the SSE error
// event that ends a stream the backend cut.
import { Buffer } from 'node:buffer';
import type { SwitchboardError } from '../core/index.js';
import type { ClientResponse } from './exchange.js';

export function errorBody(err: SwitchboardError): string {
  return JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.code } });
}

export function sendOpenAIError(res: ClientResponse, err: SwitchboardError, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(err);
  res.writeHead(err.statusCode, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The last event of a stream the backend cut: an explicit error, never `[DONE]`. */
export function sseErrorEvent(err: SwitchboardError): string {
  return `event: error\ndata: ${errorBody(err)}\n\n`;
}
