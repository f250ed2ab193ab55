// Routing quality on simulated engines: the same chat workload (multi-turn sessions with long,
// per-session prompts, streamed) through the router under each balancing policy, on a fleet of
// four sims with prefix caching, one of them slower. Prints TTFT and latency percentiles,
// throughput and the fleet's prefix-cache hit rate per policy, all measured in this run. The sims
// and the router run in this process: what is measured is simulated engine time (batching, queues,
// prefill saved by the cache), which the policy changes; CPU is not the point here.
// Env: ROUTING_REQUESTS (400 per policy), ROUTING_CONCURRENCY (24).
import { Agent, request } from 'undici';
import { simConfig } from '../src/engine/config.js';
import { buildSimServer, type SimServer } from '../src/engine/server.js';
import { routerConfigSchema, type PolicyName } from '../src/router/config.js';
import { buildRouter } from '../src/router/server.js';

const POLICIES: PolicyName[] = ['round_robin', 'least_connections', 'random_two', 'consistent_hash'];
const SESSIONS = 48;
const MODEL = 'chat';

function sessionPrompt(s: number): string {
  // ~1,500 tokens of per-session context (a document, a long system prompt) shared by its turns
  const words: string[] = [];
  for (let i = 0; i < 1200; i++) words.push(`s${s}w${(i * 7919 + s) % 10007}`);
  return words.join(' ');
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function runPolicy(policy: PolicyName, requests: number, concurrency: number): Promise<string[]> {
  const sims: SimServer[] = [];
  const urls: string[] = [];
  for (let i = 0; i < 4; i++) {
    const sim = buildSimServer(
      simConfig({
        port: 0,
        models: [MODEL],
        seed: 7 + i,
        maxNumSeqs: 8,
        prefillTokensPerS: 6000,
        // the fourth engine is an older, slower card
        decodeMs: i === 3 ? 16 : 8,
        kvCacheTokens: 48_000,
        prefixCacheBlocks: 2500,
        defaultMaxTokens: 24,
        earlyStopRate: 0,
      }),
    );
    urls.push(await sim.listen());
    sims.push(sim);
  }
  const router = await buildRouter(routerConfigSchema.parse({ port: 0, policy, healthIntervalMs: 3_600_000, passiveHealth: { maxFails: 0 } }));
  urls.forEach((u, i) => {
    const p = new URL(u);
    router.table.upsert({ name: `sim-${i}`, host: p.hostname, port: Number(p.port), url: u, status: 'running', healthy: true, metadata: { type: 'openai-api', models: [MODEL], health_check: false }, static: true });
  });
  await router.listen();
  const client = new Agent({ connections: concurrency * 2 });
  const prompts = Array.from({ length: SESSIONS }, (_, s) => sessionPrompt(s));
  const turns = new Array<number>(SESSIONS).fill(0);
  const ttft: number[] = [];
  const total: number[] = [];
  let next = 0;
  let failed = 0;
  // a fixed, interleaved order of sessions (the same for every policy)
  const order = Array.from({ length: requests }, (_, i) => (i * 29 + Math.floor(i / SESSIONS)) % SESSIONS);
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < requests) {
      const s = order[next++]!;
      const turn = turns[s]!;
      turns[s] = turn + 1;
      const body = JSON.stringify({ model: MODEL, stream: true, max_tokens: 24, prompt_cache_key: `session-${s}`, messages: [{ role: 'system', content: prompts[s] }, { role: 'user', content: `question ${turn} about the document` }] });
      const start = performance.now();
      const res = await request(`${router.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: client });
      let first = 0;
      for await (const _ of res.body) if (first === 0) first = performance.now();
      if (res.statusCode !== 200) failed++;
      ttft.push(first - start);
      total.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const seconds = (performance.now() - t0) / 1000;
  let hits = 0;
  let queries = 0;
  for (const u of urls) {
    hits += await metric(u, 'vllm:prefix_cache_hits_total');
    queries += await metric(u, 'vllm:prefix_cache_queries_total');
  }
  await client.close();
  await router.close();
  await Promise.all(sims.map((s) => s.close()));
  ttft.sort((a, b) => a - b);
  total.sort((a, b) => a - b);
  return [policy, String(requests), String(failed), (requests / seconds).toFixed(1), pct(ttft, 50).toFixed(0), pct(ttft, 95).toFixed(0), pct(total, 50).toFixed(0), pct(total, 95).toFixed(0), queries > 0 ? `${((100 * hits) / queries).toFixed(0)}%` : '-'];
}

export async function run(): Promise<void> {
  const requests = Number(process.env.ROUTING_REQUESTS ?? 400);
  const concurrency = Number(process.env.ROUTING_CONCURRENCY ?? 24);
  process.stdout.write(`4 simulated engines (8 slots each, prefix caching; one decodes at half speed), ${SESSIONS} sessions of ~1,500-token prompts, ${requests} streamed requests per policy, ${concurrency} at a time.\n\n`);
  const head = ['policy', 'requests', 'failed', 'req/s', 'TTFT p50 ms', 'TTFT p95 ms', 'latency p50 ms', 'latency p95 ms', 'prefix-cache hits'];
  const rows: string[][] = [];
  for (const p of POLICIES) rows.push(await runPolicy(p, requests, concurrency));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  process.stdout.write(`${line(head)}\n${line(w.map((n) => '-'.repeat(n)))}\n${rows.map(line).join('\n')}\n`);
}
