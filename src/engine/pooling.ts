// /v1/embeddings and /v1/rerank: prefill-only work. Each input (each query + document pair for
// rerank, as a cross-encoder reads them) is one sequence in the engine, so pooling requests
// queue and batch like generations and show up in the same metrics. Vectors and scores come
// from vectors.ts once the engine has "computed" them.
import { parseJson, readBody, sbError, sendJson } from '../core/index.js';
import type { Exchange, SimDeps } from './context.js';
import { Job } from './job.js';
import { parseEmbeddingsRequest, parseRerankRequest } from './requests.js';
import type { SequenceSpec } from './scheduler.js';
import { tokenize } from './tokenizer.js';
import { embedTokens, relevance, toArray, toBase64, truncate } from './vectors.js';

function pooled(d: SimDeps, x: Exchange, prompts: readonly number[][], field: string): SequenceSpec[] {
  return prompts.map((p, i) => {
    if (p.length > d.config.maxModelLen) throw sbError('SB_ERR_ENGINE_CONTEXT_LENGTH', d.config.maxModelLen, p.length, 0).withParam(prompts.length > 1 ? `${field}[${i}]` : field);
    return { promptTokens: p, maxTokens: 0, outputTokens: 0, arrivedAt: x.arrivedAt };
  });
}

export async function handleEmbeddings(d: SimDeps, x: Exchange): Promise<void> {
  const r = parseEmbeddingsRequest(parseJson(await readBody(x.req, d.config.maxBodyBytes)));
  const model = d.resolveModel(r.model);
  const dim = r.dimensions ?? d.config.embeddingDim;
  if (dim > d.config.embeddingDim) throw sbError('SB_ERR_INVALID_FIELD', 'dimensions', `at most ${d.config.embeddingDim} (this model's embedding size)`).withParam('dimensions');
  const prompts = r.inputs.map((input) => (typeof input === 'string' ? tokenize(input) : input));
  const specs = pooled(d, x, prompts, 'input');
  const fate = d.faults.forRequest(d.metrics.faultInjected);
  const job = new Job(d, x.res, specs, fate.spikeMs);
  if (!(await job.done)) return;
  let tokens = 0;
  const data = prompts.map((p, index) => {
    tokens += p.length;
    const v = truncate(embedTokens(p, d.config.embeddingDim), dim);
    return { object: 'embedding', embedding: r.encodingFormat === 'base64' ? toBase64(v) : toArray(v), index };
  });
  sendJson(x.res, 200, { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } }, { 'x-request-id': x.requestId });
}

export async function handleRerank(d: SimDeps, x: Exchange): Promise<void> {
  const r = parseRerankRequest(parseJson(await readBody(x.req, d.config.maxBodyBytes)));
  const model = d.resolveModel(r.model);
  const query = tokenize(r.query);
  const docs = r.documents.map((doc) => tokenize(doc));
  const specs = pooled(d, x, docs.map((doc) => query.concat(doc)), 'documents');
  const fate = d.faults.forRequest(d.metrics.faultInjected);
  const job = new Job(d, x.res, specs, fate.spikeMs);
  if (!(await job.done)) return;
  const q = embedTokens(query, d.config.embeddingDim);
  let tokens = 0;
  const scored = docs.map((doc, index) => {
    tokens += query.length + doc.length;
    return { index, relevance_score: relevance(q, embedTokens(doc, d.config.embeddingDim)) };
  });
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  const top = r.topN === undefined ? scored : scored.slice(0, r.topN);
  const results = top.map((s) => (r.returnDocuments ? { index: s.index, document: { text: r.documents[s.index]! }, relevance_score: s.relevance_score } : s));
  sendJson(x.res, 200, { id: `rerank-${x.requestId}`, model, usage: { prompt_tokens: tokens, total_tokens: tokens }, results }, { 'x-request-id': x.requestId });
}
