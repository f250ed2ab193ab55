// The output of `switchboard up` in the foreground: every process's JSON log lines, shortened
// for a terminal and prefixed with the process name (`chat-a   | 12:00:01 engine ready ...`).
// The JSON itself is what `--logs` writes to files, unchanged, for tools that parse it.
import type { Writable } from 'node:stream';

const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v']);
const LEVELS: Record<string, string> = { trace: 'TRACE', debug: 'DEBUG', warn: 'WARN', error: 'ERROR', fatal: 'FATAL' };

function short(v: unknown): string {
  let s = typeof v === 'string' ? (/[\s"=]/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v);
  if (s === undefined) s = String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** One log line for a terminal: time, level (when not info), message, then key=value. */
export function formatLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const parts: string[] = [];
  if (typeof o.time === 'string') parts.push(o.time.slice(11, 19));
  const level = typeof o.level === 'string' ? LEVELS[o.level] : undefined;
  if (level) parts.push(level);
  if (o.msg !== undefined) parts.push(typeof o.msg === 'string' ? o.msg : short(o.msg));
  for (const [k, v] of Object.entries(o)) {
    if (SKIP.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      parts.push(`err=${short((v as { message?: unknown }).message ?? v)}`);
      continue;
    }
    parts.push(`${k}=${short(v)}`);
  }
  return parts.join(' ');
}

const COLORS = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];

/** Writes lines prefixed with a padded, optionally coloured process name. */
export function createPrefixer(names: readonly string[], out: Writable, color: boolean): (name: string, line: string) => void {
  const width = Math.max(...names.map((n) => n.length), 2);
  const colorOf = new Map(names.map((n, i) => [n, COLORS[i % COLORS.length]!]));
  return (name, line) => {
    const label = name.padEnd(width);
    const c = colorOf.get(name);
    const prefix = color && c !== undefined ? `\x1b[${c}m${label} |\x1b[0m` : `${label} |`;
    out.write(`${prefix} ${line}\n`);
  };
}
