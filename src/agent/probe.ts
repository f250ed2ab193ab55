// Talking to an engine on this machine: is it ready (health, then a non-empty model list) and
// what does it serve. Short timeouts: these run in loops that back off on their own.
import { describeError, requestJson } from '../core/index.js';

/** A model object as engines list them; only `id` is required. */
export interface ModelObject {
  id: string;
  [key: string]: unknown;
}

export interface EngineEndpoints {
  readonly healthPath: string | undefined;
  readonly modelsPaths: readonly string[];
}

export type Readiness = { ready: true; models: ModelObject[] } | { ready: false; detail: string };

/** `{"data": [...]}` or a bare array (both originals accepted both); entries without an id dropped. */
export function modelsFromBody(body: unknown): ModelObject[] {
  const list = Array.isArray(body) ? body : body && typeof body === 'object' && Array.isArray((body as { data?: unknown }).data) ? (body as { data: unknown[] }).data : [];
  return list.filter((m): m is ModelObject => !!m && typeof m === 'object' && typeof (m as { id?: unknown }).id === 'string');
}

/** The first non-empty model list among the paths, or why there is none. */
export async function fetchModels(baseUrl: string, paths: readonly string[], timeoutMs: number): Promise<{ models: ModelObject[] } | { detail: string }> {
  let detail = 'no model list path';
  for (const path of paths) {
    try {
      const res = await requestJson(`${baseUrl}${path}`, { timeoutMs, headers: { connection: 'close' } });
      if (res.status < 200 || res.status >= 300) {
        detail = `GET ${path} answered ${res.status}`;
        continue;
      }
      const models = modelsFromBody(res.body);
      if (models.length > 0) return { models };
      detail = `GET ${path} listed no models`;
    } catch (err) {
      detail = `GET ${path}: ${describeError(err)}`;
    }
  }
  return { detail };
}

/** Ready = the health path (when the engine has one) answers 2xx and a model list is non-empty. */
export async function checkReady(baseUrl: string, ep: EngineEndpoints, timeoutMs: number): Promise<Readiness> {
  if (ep.healthPath) {
    try {
      const res = await requestJson(`${baseUrl}${ep.healthPath}`, { timeoutMs });
      if (res.status < 200 || res.status >= 300) return { ready: false, detail: `GET ${ep.healthPath} answered ${res.status}` };
    } catch (err) {
      return { ready: false, detail: `GET ${ep.healthPath}: ${describeError(err)}` };
    }
  }
  const r = await fetchModels(baseUrl, ep.modelsPaths, timeoutMs);
  return 'models' in r ? { ready: true, models: r.models } : { ready: false, detail: r.detail };
}
