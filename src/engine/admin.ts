// The sim's admin API: read and change faults at runtime, and crash on demand. It can take the
// engine down, so beyond loopback it needs --admin-token (STYLE: secure by default).
import type { IncomingMessage } from 'node:http';
import { bearerChecker, isLoopback, parseJson, readBody, sbError, sendJson } from '../core/index.js';
import type { Exchange, SimDeps } from './context.js';

const ADMIN_BODY_BYTES = 64 * 1024;

/** Throws 401/403 unless the caller may use /admin/* on this sim. */
export function adminGuard(d: SimDeps): (req: IncomingMessage) => void {
  const token = d.config.adminToken;
  if (token) {
    const ok = bearerChecker(token);
    return (req) => {
      if (!ok(req)) throw sbError('SB_ERR_UNAUTHORIZED', 'The admin API of this sim requires a token: send Authorization: Bearer <admin token>');
    };
  }
  if (isLoopback(d.config.host)) return () => undefined;
  return () => {
    throw sbError('SB_ERR_FORBIDDEN', `The admin API is off because the sim listens on ${d.config.host} without --admin-token`);
  };
}

/** The settings object itself, so what GET returns can be edited and PUT back. */
export function getFaults(d: SimDeps, x: Exchange): void {
  sendJson(x.res, 200, d.faults.settings);
}

export async function putFaults(d: SimDeps, x: Exchange, merge: boolean): Promise<void> {
  const body = parseJson(await readBody(x.req, ADMIN_BODY_BYTES));
  if (merge) d.faults.patch(body);
  else d.faults.replace(body);
  d.log.warn({ faults: d.faults.settings }, 'fault settings changed');
  sendJson(x.res, 200, d.faults.settings);
}

export function postCrash(d: SimDeps, x: Exchange): void {
  // answer first, then die: the caller learns the request was taken
  x.res.once('finish', () => d.crash('POST /admin/crash'));
  sendJson(x.res, 200, { status: 'crashing' }, { connection: 'close' });
}
