// /v1/chat/completions and /v1/completions: validate, tokenize, decide the reply and the faults,
// then let the engine model produce the tokens, streamed as OpenAI chunks or answered at once.
import { parseJson, readBody, sbError, sendJson } from '../core/index.js';
import type { SimConfig } from './config.js';
import type { Exchange, SimDeps } from './context.js';
import { mix32 } from './hash.js';
import { Job } from './job.js';
import { ChatChunks, chatCompletion, CompletionChunks, DONE, textCompletion, usage, type StreamIds } from './openai-shapes.js';
import { parseChatRequest, parseCompletionRequest, type GenerationRequest } from './requests.js';
import { SseWriter } from './sse-writer.js';
import { planReply, TextGenerator } from './text.js';
import { tokenize, tokenizeChat } from './tokenizer.js';

export type GenerationMode = 'chat' | 'completion';

/** max_tokens as asked, or the default clamped to the context; 400 when it cannot fit (vLLM). */
export function completionBudget(config: SimConfig, promptTokens: number, asked: number | undefined): number {
  if (asked !== undefined) {
    if (promptTokens + asked > config.maxModelLen) throw sbError('SB_ERR_ENGINE_CONTEXT_LENGTH', config.maxModelLen, promptTokens, asked).withParam('max_tokens');
    return asked;
  }
  const budget = Math.min(config.defaultMaxTokens, config.maxModelLen - promptTokens);
  if (budget < 1) throw sbError('SB_ERR_ENGINE_CONTEXT_LENGTH', config.maxModelLen, promptTokens, config.defaultMaxTokens).withParam('messages');
  return budget;
}

export async function handleGeneration(d: SimDeps, x: Exchange, mode: GenerationMode): Promise<void> {
  const raw = parseJson(await readBody(x.req, d.config.maxBodyBytes));
  let r: GenerationRequest;
  let prompt: number[];
  if (mode === 'chat') {
    const chat = parseChatRequest(raw);
    prompt = tokenizeChat(chat.turns);
    r = chat;
  } else {
    const c = parseCompletionRequest(raw);
    prompt = typeof c.prompt === 'string' ? tokenize(c.prompt) : c.prompt;
    r = c;
  }
  const model = d.resolveModel(r.model);
  const maxTokens = completionBudget(d.config, prompt.length, r.maxTokens);
  const fate = d.faults.forRequest(d.metrics.faultInjected);
  const seed = d.replySeed(model, prompt, r.seed, r.temperature);
  const plan = planReply(seed, maxTokens, d.config.earlyStopRate, r.ignoreEos);
  const text = new TextGenerator(mix32(seed, 0x7e57), plan.outputTokens, plan.finishReason);
  const ids: StreamIds = { id: `${mode === 'chat' ? 'chatcmpl' : 'cmpl'}-${x.requestId}`, created: Math.floor(d.clock.now() / 1000), model };
  const stall = fate.stallAfterTokens !== null && fate.stallAfterTokens < plan.outputTokens ? fate.stallAfterTokens : null;
  const drop = fate.dropAfterTokens !== null && fate.dropAfterTokens <= plan.outputTokens ? fate.dropAfterTokens : null;
  if (stall !== null) d.metrics.faultInjected('stall');
  const spec = { promptTokens: prompt, maxTokens, outputTokens: plan.outputTokens, cacheScope: d.modelScope(model), stallAfterTokens: stall, arrivedAt: x.arrivedAt };
  const headers = { 'x-request-id': x.requestId };

  if (!r.stream) {
    if (drop === 0) {
      d.metrics.faultInjected('drop');
      x.res.destroy();
      return;
    }
    const job: Job = new Job(d, x.res, [spec], fate.spikeMs, drop === null ? undefined : (n) => {
      if (n !== drop) return;
      d.metrics.faultInjected('drop');
      job.cut();
      x.res.destroy();
    });
    if (!(await job.done)) return;
    const u = usage(prompt.length, plan.outputTokens, job.cachedTokens);
    const body = mode === 'chat' ? chatCompletion(ids, text.all(), plan.finishReason, u) : textCompletion(ids, text.all(), plan.finishReason, u);
    sendJson(x.res, 200, body, headers);
    return;
  }

  const writer = new SseWriter(x.res, headers);
  if (drop === 0) {
    d.metrics.faultInjected('drop');
    writer.drop();
    return;
  }
  const chat = mode === 'chat' ? new ChatChunks(ids, r.includeUsage) : undefined;
  const completion = chat ? undefined : new CompletionChunks(ids, r.includeUsage);
  const job: Job = new Job(d, x.res, [spec], fate.spikeMs, (n) => {
    if (writer.closed) return;
    const piece = text.next();
    if (chat) {
      if (n === 1) writer.send(chat.role());
      writer.send(chat.content(piece));
    } else {
      writer.send(completion!.content(piece));
    }
    if (n === drop) {
      d.metrics.faultInjected('drop');
      job.cut();
      writer.drop();
    }
  });
  if (!(await job.done)) return;
  const chunks = chat ?? completion!;
  writer.send(chunks.finish(plan.finishReason));
  if (r.includeUsage) writer.send(chunks.usage(usage(prompt.length, plan.outputTokens, job.cachedTokens)));
  writer.end(DONE);
}
