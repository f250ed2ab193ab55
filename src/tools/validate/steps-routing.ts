// Validation steps through the router (reference §6.1 steps 6–7, §6.2 tests 2–7): chat completions
// with and without streaming, the [non-stream, non-stream, stream, stream] round-robin pattern
// judged by x-switchboard-backend, /v1/models aggregation and routing by model, the error cases,
// deregistration, and clean-up (which runs whatever happened before).
import { chat, chatProblem, errorMessage, http, type ChatResult } from './http.js';
import type { Step } from './pipeline.js';
import { call, expectStatus, fail, obj, poll, quote, routerServices, type Run } from './run.js';

async function ask(run: Run, model: string, stream: boolean, content: string): Promise<ChatResult> {
  try {
    return await chat(run.routerUrl, { model, stream, content, apiKey: run.o.apiKey, timeoutMs: run.o.timeoutMs, signal: run.signal });
  } catch (err) {
    if (run.signal.aborted) throw err;
    return fail(`POST ${run.routerUrl}/v1/chat/completions: ${(err as Error).message}`);
  }
}

/** A good answer from one of the test backends, or FAIL saying what was wrong. */
async function askTest(run: Run, stream: boolean, content: string, model = run.model): Promise<ChatResult> {
  const r = await ask(run, model, stream, content);
  const problem = chatProblem(r, stream);
  if (problem) fail(`${stream ? 'stream' : 'non-stream'} request for ${model}: ${problem}`);
  const names = run.backends.map((b) => b.name);
  if (!r.backend || !names.includes(r.backend)) fail(`x-switchboard-backend is ${JSON.stringify(r.backend)}, expected one of ${names.join(', ')}`);
  if (!r.requestId) fail('the answer has no x-request-id header');
  return r;
}

const chatStep: Step = {
  id: 'chat',
  title: 'chat (non-stream)',
  needs: ['discovery'],
  async run(run) {
    const r = await askTest(run, false, 'Hello, this is a test');
    return `200 from ${r.backend!} in ${r.ms} ms: ${quote(r.content)}`;
  },
};

const streamStep: Step = {
  id: 'stream',
  title: 'chat (stream)',
  needs: ['discovery'],
  async run(run) {
    const r = await askTest(run, true, 'Hello, this is a streaming test');
    return `200 text/event-stream from ${r.backend!}: ${r.events - 1} chunks then [DONE], ${quote(r.content)}`;
  },
};

const roundRobinStep: Step = {
  id: 'round-robin',
  title: 'round robin',
  needs: ['discovery'],
  async run(run) {
    const seq: string[] = [];
    for (const [i, stream] of [false, false, true, true].entries()) {
      seq.push((await askTest(run, stream, `Request ${i + 1} - ${stream ? 'streaming' : 'non-streaming'}`)).backend!);
    }
    const [a, b, c, d] = seq;
    if (a === b || a !== c || b !== d) fail(`expected the two backends to alternate, got ${seq.join(', ')} (is the router's policy round_robin?)`);
    return `[non-stream, non-stream, stream, stream] went to ${seq.join(', ')}`;
  },
};

const modelsStep: Step = {
  id: 'models',
  title: 'models',
  needs: ['discovery'],
  async run(run) {
    const r = await call(run, `${run.routerUrl}/v1/models`, { token: run.o.apiKey });
    expectStatus(r, 'router GET /v1/models', 200);
    const body = obj(r.json);
    if (body.object !== 'list' || !Array.isArray(body.data)) fail('router /v1/models is not {"object": "list", "data": [...]}');
    const ids = (body.data as unknown[]).map((d) => obj(d).id);
    const want = [run.model, ...run.backends.flatMap((b) => b.models.filter((m) => m !== run.model))];
    const missing = want.filter((m) => !ids.includes(m));
    if (missing.length > 0) fail(`router /v1/models lacks ${missing.join(', ')} (it lists ${ids.length} models)`);
    const routed: string[] = [];
    for (const b of run.backends) {
      const own = b.models.find((m) => m !== run.model)!;
      const answer = await askTest(run, false, `Only ${b.name} serves this model`, own);
      if (answer.backend !== b.name) fail(`a request for ${own} went to ${answer.backend!}, but only ${b.name} serves it`);
      routed.push(`${own} → ${b.name}`);
    }
    return `lists ${want.join(', ')} (${ids.length} in all); ${routed.join(', ')}`;
  },
};

const errorsStep: Step = {
  id: 'errors',
  title: 'error cases',
  needs: ['router'],
  async run(run) {
    const unknown = `validate-${run.o.id}-no-such-model`;
    const r = await ask(run, unknown, false, 'This should fail');
    const want = `No healthy services available for model '${unknown}'`;
    if (r.status !== 503) fail(`unknown model: expected 503, got ${r.status}${errorMessage(r) ? ` (${errorMessage(r)})` : ''}`);
    const env = obj(obj(r.json).error);
    if (env.message !== want) fail(`unknown model: expected the OpenAI envelope {"error": {"message": "${want}"}}, got ${r.text.slice(0, 160)}`);
    if (typeof env.type !== 'string') fail('unknown model: the error envelope has no "type"');
    const done = [`unknown model → 503 "${want}"`];

    const url = `${run.routerUrl}/v1/chat/completions`;
    const bad = await call(run, url, { body: `{"model": "${run.model}", "messages": [`, token: run.o.apiKey });
    if (bad.status !== 400) fail(`invalid JSON: expected 400, got ${bad.status}`);
    if (!errorMessage(bad)) fail(`invalid JSON: no OpenAI error envelope in ${bad.text.slice(0, 160)}`);
    done.push(`invalid JSON → 400 ${quote(errorMessage(bad)!)}`);

    if (run.discovered) {
      // the original's third probe: a body that parses but is not a chat request
      const malformed = await call(run, url, { body: { model: run.model, messages: 'invalid_messages_format' }, token: run.o.apiKey });
      if (malformed.status !== 400) fail(`"messages" as a string: expected 400, got ${malformed.status}`);
      done.push('"messages" as a string → 400');
    }
    return done.join('; ');
  },
};

const deregisterStep: Step = {
  id: 'deregister',
  title: 'deregistration',
  needs: ['discovery'],
  async run(run) {
    const [keep, gone] = run.backends as [(typeof run.backends)[0], (typeof run.backends)[0]];
    const del = await call(run, `${run.registryUrl}/services/${encodeURIComponent(gone.name)}`, { method: 'DELETE', token: run.o.token });
    expectStatus(del, `registry DELETE /services/${gone.name}`, 200);
    run.registered.delete(gone.name);
    const stopped = await poll(run, run.o.removalTimeoutMs, async () => {
      const s = (await routerServices(run)).get(gone.name);
      return !s || !s.healthy ? true : undefined;
    });
    if (!stopped) fail(`the router still lists ${gone.name} as healthy ${run.o.removalTimeoutMs} ms after its DELETE`);
    const list = await call(run, `${run.registryUrl}/services`);
    if ((obj(list.json).services as unknown[] | undefined)?.some((s) => obj(s).name === gone.name)) fail(`registry still lists ${gone.name} after DELETE`);
    for (let i = 1; i <= 4; i++) {
      const r = await askTest(run, i > 2, `After deregistration ${i}`);
      if (r.backend !== keep.name) fail(`request ${i} after the DELETE went to ${r.backend!}`);
    }
    return `DELETE ${gone.name} 200; the router stopped routing to it within ${stopped.ms} ms; 4 of 4 requests for ${run.model} went to ${keep.name}`;
  },
};

/** One model of the fleet itself (--model), non-stream and stream, through the router. */
export function fleetModelStep(model: string): Step {
  return {
    id: `model:${model}`,
    title: `model ${model}`,
    needs: ['router'],
    async run(run) {
      const parts: string[] = [];
      for (const stream of [false, true]) {
        const r = await ask(run, model, stream, 'Say hello');
        const problem = chatProblem(r, stream);
        if (problem) fail(`${stream ? 'stream' : 'non-stream'}: ${problem}${r.backend ? ` (backend ${r.backend})` : ''}`);
        parts.push(`${stream ? 'stream' : 'non-stream'} 200 from ${r.backend ?? '?'}`);
      }
      return parts.join('; ');
    },
  };
}

const cleanupStep: Step = {
  id: 'cleanup',
  title: 'clean-up',
  needs: [],
  always: true,
  async run(run) {
    const problems: string[] = [];
    const done: string[] = [];
    const names = run.backends.map((b) => b.name);
    for (const name of [...run.registered]) {
      try {
        const r = await http(`${run.registryUrl}/services/${encodeURIComponent(name)}`, { method: 'DELETE', token: run.o.token, timeoutMs: run.o.timeoutMs, signal: run.signal });
        if (r.status === 200 || r.status === 404) run.registered.delete(name);
        else problems.push(`DELETE ${name} answered ${r.status}`);
      } catch (err) {
        problems.push(`DELETE ${name}: ${(err as Error).message}`);
      }
    }
    if (names.length > 0 && run.registryUrl) {
      try {
        const list = await http(`${run.registryUrl}/services`, { timeoutMs: run.o.timeoutMs, signal: run.signal });
        const left = ((obj(list.json).services as unknown[] | undefined) ?? []).map((s) => obj(s).name).filter((n) => names.includes(n as string));
        if (left.length > 0) problems.push(`registry still lists ${left.join(', ')}`);
        else done.push('no test record left in the registry');
      } catch (err) {
        if (run.registered.size > 0 || run.discovered) problems.push(`registry: ${(err as Error).message}`);
      }
    }
    if (run.discovered) {
      const off = await poll(run, run.o.removalTimeoutMs, async () => ((await ask(run, run.model, false, 'after clean-up')).status === 503 ? true : undefined)).catch(() => undefined);
      if (off) done.push(`the router answers 503 for ${run.model}`);
      else problems.push(`the router still serves ${run.model} ${run.o.removalTimeoutMs} ms after clean-up`);
    }
    await Promise.all(run.backends.map((b) => run.fleet.stop(b.proc)));
    if (run.backends.length > 0) done.push(`stopped ${run.backends.length} test backends`);
    if (problems.length > 0) fail(problems.join('; '));
    return done.length > 0 ? done.join('; ') : 'nothing to clean up';
  },
};

export const ROUTING_STEPS: Step[] = [chatStep, streamStep, roundRobinStep, modelsStep, errorsStep, deregisterStep];
export const CLEANUP_STEP = cleanupStep;
