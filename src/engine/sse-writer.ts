// Writes one server-sent-event response with backpressure: once write() returns false nothing
// more is written until 'drain'; pieces produced meanwhile are queued (bounded by the reply's
// max_tokens, as an engine's output queue is) and go out in one write. Pieces produced in the
// same tick (zero-delay steps) are corked into one socket write.
import process from 'node:process';
import type { ServerResponse } from 'node:http';

export class SseWriter {
  readonly #res: ServerResponse;
  #queue: string[] = [];
  #blocked = false;
  #corked = false;
  #ending: string | undefined;
  #ended = false;

  constructor(res: ServerResponse, headers: Record<string, string>) {
    this.#res = res;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...headers,
    });
    // headers go out at once, as vLLM's StreamingResponse sends them before the first token
    res.flushHeaders();
  }

  /** True when the client is gone or the response is over: stop producing. */
  get closed(): boolean {
    return this.#ended || this.#res.destroyed;
  }

  send(data: string): void {
    if (this.closed || this.#ending !== undefined) return;
    if (this.#blocked) {
      this.#queue.push(data);
      return;
    }
    this.#cork();
    if (!this.#res.write(data)) this.#block();
  }

  /** Writes the last data and ends the response (after a pending drain, if any). */
  end(last: string): void {
    if (this.closed || this.#ending !== undefined) return;
    if (this.#blocked) {
      this.#ending = last;
      return;
    }
    this.#ended = true;
    this.#uncork();
    this.#res.end(last);
  }

  /** Cuts the connection once what was sent so far has reached the socket (no [DONE]). */
  drop(): void {
    if (this.closed) return;
    this.#ended = true;
    this.#uncork();
    const socket = this.#res.socket;
    if (!socket || this.#blocked) {
      // a client that does not read would hold the flush forever: cut at once
      this.#res.destroy();
      return;
    }
    // end() flushes what was written (FIN after the data), then the socket is destroyed:
    // the client sees the tokens, then a chunked body that never terminates properly
    socket.end(() => socket.destroy());
  }

  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#res.cork();
    process.nextTick(this.#uncorkTick);
  }

  readonly #uncorkTick = (): void => this.#uncork();

  #uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#res.uncork();
  }

  #block(): void {
    this.#blocked = true;
    this.#res.once('drain', this.#onDrain);
  }

  readonly #onDrain = (): void => {
    this.#blocked = false;
    if (this.closed) return;
    const data = this.#queue.join('');
    this.#queue = [];
    if (this.#ending !== undefined) {
      this.#ended = true;
      this.#res.end(data + this.#ending);
      return;
    }
    if (data && !this.#res.write(data)) this.#block();
  };
}
