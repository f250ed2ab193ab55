// Load readers: vLLM's Prometheus gauges, llama.cpp's /slots and TGI's gauges, reduced to the
// `{running, waiting, kv_cache_usage}` that heartbeats carry. A reader never throws: an engine
// that does not answer simply has no load to publish this time.
import { requestJson } from '../../core/index.js';
import type { EngineLoad, LoadReader } from './types.js';

/**
 * The values of the named series in a Prometheus text exposition, summed over label sets
 * (an engine serving several models reports one series per model).
 */
export function promValues(text: string, names: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const labelled = brace >= 0 && (space < 0 || brace < space);
    const end = labelled ? brace : space;
    if (end <= 0) continue;
    const name = line.slice(0, end);
    if (!names.includes(name)) continue;
    // label values may hold spaces: the value follows the last '}'
    const rest = labelled ? line.slice(line.lastIndexOf('}') + 1) : line.slice(space + 1);
    const token = rest.trim().split(' ')[0];
    if (!token) continue;
    const v = Number(token);
    if (Number.isFinite(v)) out.set(name, (out.get(name) ?? 0) + v);
  }
  return out;
}

/** vLLM (and `switchboard sim`): running and waiting requests, KV-cache use (0..1). */
export function vllmLoadFromMetrics(text: string): EngineLoad | undefined {
  const v = promValues(text, ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc']);
  if (!v.has('vllm:num_requests_running')) return undefined;
  const load: EngineLoad = { running: v.get('vllm:num_requests_running')!, waiting: v.get('vllm:num_requests_waiting') ?? 0 };
  // vLLM before 0.7 named the KV gauge gpu_cache_usage_perc
  const kv = v.get('vllm:kv_cache_usage_perc') ?? v.get('vllm:gpu_cache_usage_perc');
  if (kv !== undefined) load.kv_cache_usage = kv;
  return load;
}

/** TGI: the current batch is what runs, the queue is what waits. */
export function tgiLoadFromMetrics(text: string): EngineLoad | undefined {
  const v = promValues(text, ['tgi_batch_current_size', 'tgi_queue_size']);
  if (!v.has('tgi_batch_current_size') && !v.has('tgi_queue_size')) return undefined;
  return { running: v.get('tgi_batch_current_size') ?? 0, waiting: v.get('tgi_queue_size') ?? 0 };
}

/** llama.cpp's GET /slots: the slots that are processing a request. */
export function llamaLoadFromSlots(body: unknown): EngineLoad | undefined {
  if (!Array.isArray(body)) return undefined;
  let running = 0;
  for (const s of body) if (s && typeof s === 'object' && (s as { is_processing?: unknown }).is_processing === true) running++;
  return { running };
}

async function fetchText(url: string, timeoutMs: number): Promise<{ status: number; text: string; body: unknown } | undefined> {
  try {
    const res = await requestJson(url, { timeoutMs });
    return { status: res.status, text: res.text, body: res.body };
  } catch {
    return undefined;
  }
}

function fromMetrics(parse: (text: string) => EngineLoad | undefined): LoadReader {
  return async (baseUrl, timeoutMs) => {
    const res = await fetchText(`${baseUrl}/metrics`, timeoutMs);
    return res && res.status === 200 ? parse(res.text) : undefined;
  };
}

export const vllmLoad: LoadReader = fromMetrics(vllmLoadFromMetrics);
export const tgiLoad: LoadReader = fromMetrics(tgiLoadFromMetrics);
export const llamaSlotsLoad: LoadReader = async (baseUrl, timeoutMs) => {
  const res = await fetchText(`${baseUrl}/slots`, timeoutMs);
  return res && res.status === 200 ? llamaLoadFromSlots(res.body) : undefined;
};
