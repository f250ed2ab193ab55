// Header lines as they pass through the proxy path. Requests and responses are forwarded with the
// header lines as they came (names in their own case, values untouched), minus what a proxy must
// not forward: the hop-by-hop headers, and the ones the router sets itself. A head is read once,
// line by line, and what is kept is taken as slices of the head text, so the common request
// costs no string per header.

/** Whether text[start, start + lower.length) is `lower` (lower case) in any letter case. */
export function nameIs(text: string, start: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = text.charCodeAt(start + i);
    const l = lower.charCodeAt(i);
    // an ASCII capital differs from its small letter in bit 0x20 only
    if (c !== l && !((c | 0x20) === l && l >= 97 && l <= 122)) return false;
  }
  return true;
}

/** Whether the header name at text[start, start + len) is hop-by-hop (RFC 9110 §7.6.1, plus proxy-connection). */
export function isHopByHop(text: string, start: number, len: number): boolean {
  switch (len) {
    case 2:
      return nameIs(text, start, 'te');
    case 7:
      return nameIs(text, start, 'trailer') || nameIs(text, start, 'upgrade');
    case 10:
      return nameIs(text, start, 'connection') || nameIs(text, start, 'keep-alive');
    case 16:
      return nameIs(text, start, 'proxy-connection');
    case 17:
      return nameIs(text, start, 'transfer-encoding');
    case 18:
      return nameIs(text, start, 'proxy-authenticate');
    case 19:
      return nameIs(text, start, 'proxy-authorization');
    default:
      return false;
  }
}

/** Header lines (separated by CRLF, no start line) as a flat list: name as sent, trimmed value. */
export function headerList(block: string): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < block.length) {
    let end = block.indexOf('\r\n', at);
    if (end === -1) end = block.length;
    const colon = block.indexOf(':', at);
    if (colon > at && colon < end) out.push(block.slice(at, colon), block.slice(colon + 1, end).trim());
    at = end + 2;
  }
  return out;
}

/** Header lines (CRLF-separated) lower-cased for blockHas, with a "\n" in front so every name follows one. */
export function lowerBlock(lines: string): string {
  return `\n${lines.toLowerCase()}`;
}

/** Whether a lowerBlock() of header lines has a line named `name` (lower case). */
export function blockHas(lower: string, name: string): boolean {
  return lower.includes(`\n${name}:`);
}
