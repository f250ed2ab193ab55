// Where the shared bench-peers harness is (../shared/bench-peers, or $BENCH_PEERS_DIR): its
// run.sh, the fake OpenAI upstream (upstream.mjs) and the wrk request the router benches send.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/index.js';

export function peersDir(): string | undefined {
  for (const d of [process.env.BENCH_PEERS_DIR, join(packageRoot(), '..', 'shared', 'bench-peers')]) {
    if (d && existsSync(join(d, 'run.sh'))) return d;
  }
  return undefined;
}
