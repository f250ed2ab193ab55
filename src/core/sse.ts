// A streaming parser for text/event-stream (WHATWG HTML §9.2.6): feed it chunks as they arrive;
// it calls back once per complete event. Linear in the input: it scans each chunk once and keeps
// only the unfinished last line (unlike splitting the whole buffer again on every chunk).

export interface SseEvent {
  /** "message" when the event had no `event:` field. */
  event: string;
  data: string;
  id: string | undefined;
}

export class SseParser {
  #partial = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;
  #sawCR = false;

  constructor(private readonly onEvent: (ev: SseEvent) => void) {}

  push(chunk: string): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 10 && this.#sawCR) {
        // the \n of a \r\n pair: the line already ended at \r
        this.#sawCR = false;
        start = i + 1;
        continue;
      }
      this.#sawCR = false;
      if (c === 10 || c === 13) {
        const line = this.#partial + chunk.slice(start, i);
        this.#partial = '';
        this.#line(line);
        start = i + 1;
        if (c === 13) this.#sawCR = true;
      }
    }
    if (start < chunk.length) this.#partial += chunk.slice(start);
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0) this.onEvent({ event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id });
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      default:
        break; // `retry` and unknown fields are ignored
    }
  }
}
