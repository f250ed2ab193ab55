// Every port of a fleet is checked before the first process starts, so a taken port is one
// clear error naming the port, the role that needed it and (on Linux, for a process of the same
// user) what holds it, instead of a process dying half-way through start-up.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { sbError } from '../../core/index.js';

/** Whether host:port can be listened on now (listen, then close at once). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Socket inodes listening on a TCP port, from /proc/net/tcp{,6} (Linux). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st ... inode (index 9); st 0A = LISTEN
      if (cols.length < 10 || cols[3] !== '0A') continue;
      const local = cols[1]!;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(cols[9]!);
    }
  }
  return inodes;
}

/** The process listening on a TCP port, when it can be found out (Linux, a process of the same user). */
export function portHolder(port: number): { pid: number; args: string[] } | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) {
        let args: string[] = [];
        try {
          args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        } catch {
          // gone meanwhile
        }
        return { pid: Number(pid), args };
      }
    }
  }
  return undefined;
}

/** "pid 1234: node switchboard.js registry --port 8081", when it can be found out. */
export function describePortHolder(port: number): string | undefined {
  const h = portHolder(port);
  if (!h) return undefined;
  const cmd = h.args.join(' ');
  return `pid ${h.pid}${cmd ? `: ${cmd.length > 160 ? `${cmd.slice(0, 157)}...` : cmd}` : ''}`;
}

export interface PortNeed {
  host: string;
  port: number;
  /** "the registry", "the engine of chat-a", ... */
  role: string;
}

/** Throws SB_ERR_PORT_IN_USE for the first port that cannot be listened on. */
export async function assertPortsFree(needs: readonly PortNeed[], hint: string): Promise<void> {
  for (const n of needs) {
    if (await portFree(n.host, n.port)) continue;
    const holder = describePortHolder(n.port);
    throw sbError('SB_ERR_PORT_IN_USE', n.port, n.host, n.role, `${holder ? `It is held by ${holder}. ` : ''}${hint}`);
  }
}
