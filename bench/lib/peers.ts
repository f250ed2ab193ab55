// Where the shared bench-peers harness is (../shared/bench-peers, or $BENCH_PEERS_DIR): its
// run.sh, the fake OpenAI upstream (upstream.mjs) and the wrk request the router benches send.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/lib is two levels below it once compiled to dist/bench/lib). */
export const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

export function peersDir(): string | undefined {
  for (const d of [process.env.BENCH_PEERS_DIR, join(root, '..', 'shared', 'bench-peers')]) {
    if (d && existsSync(join(d, 'run.sh'))) return d;
  }
  return undefined;
}
