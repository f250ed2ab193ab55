// Validation steps up to discovery (reference §6.1 steps 1–4, §6.2's wait for the router to see
// its backends): the fleet itself, registry and router health, two test backends started,
// registered as an agent would register them, and seen by the router.
import { hostname } from 'node:os';
import { call, expectStatus, fail, obj, poll, routerServices, type TestBackend } from './run.js';
import type { Step } from './pipeline.js';

const fleetStep: Step = {
  id: 'fleet',
  title: 'fleet started',
  needs: [],
  selfContainedOnly: true,
  async run(run) {
    const reg = await run.fleet.start('registry', ['registry', '--port', '0', '--host', '127.0.0.1'], run.signal);
    run.registryUrl = reg.url;
    const router = await run.fleet.start('router', ['router', '--router-port', '0', '--host', '127.0.0.1', '--registry-url', reg.url], run.signal);
    run.routerUrl = router.url;
    return `switchboard registry at ${reg.url} (pid ${reg.child.pid}), switchboard router at ${router.url} (pid ${router.child.pid})`;
  },
};

const registryStep: Step = {
  id: 'registry',
  title: 'registry health',
  needs: ['fleet'],
  async run(run) {
    const h = await call(run, `${run.registryUrl}/health`);
    expectStatus(h, 'registry GET /health', 200);
    const body = obj(h.json);
    if (body.status !== 'healthy') fail(`registry /health status is ${JSON.stringify(body.status)}, expected "healthy"`);
    const s = await call(run, `${run.registryUrl}/services`);
    expectStatus(s, 'registry GET /services', 200);
    if (!Array.isArray(obj(s.json).services)) fail('registry /services has no "services" list');
    expectStatus(await call(run, `${run.registryUrl}/stats`), 'registry GET /stats', 200);
    return `${run.registryUrl} healthy; ${String(body.registered_services)} services registered, ${String(body.healthy_services)} healthy${typeof body.store === 'string' ? `; store ${body.store}` : ''}`;
  },
};

const routerStep: Step = {
  id: 'router',
  title: 'router health',
  needs: ['fleet'],
  async run(run) {
    const h = await call(run, `${run.routerUrl}/health`);
    expectStatus(h, 'router GET /health', 200);
    const body = obj(h.json);
    if (body.router !== 'running') fail(`router /health says router ${JSON.stringify(body.router)}, expected "running"`);
    expectStatus(await call(run, `${run.routerUrl}/health/live`), 'router GET /health/live', 200);
    const ready = await call(run, `${run.routerUrl}/health/ready`);
    // unavailable (503) is expected before any backend is known; the status itself must be valid
    expectStatus(ready, 'router GET /health/ready', 200, 503);
    const readiness = obj(ready.json).status;
    if (readiness !== 'ok' && readiness !== 'degraded' && readiness !== 'unavailable') fail(`router /health/ready status is ${JSON.stringify(readiness)}`);
    const stats = await call(run, `${run.routerUrl}/stats`, { token: run.o.adminToken });
    if (stats.status === 401) fail('router /stats answered 401: it needs its admin token (--admin-token or SWITCHBOARD_ADMIN_TOKEN)');
    expectStatus(stats, 'router GET /stats', 200);
    const reg = typeof body.registry_url === 'string' ? `registry ${body.registry_url}` : 'no registry (static services only)';
    return `${run.routerUrl} running; readiness ${String(readiness)}; ${String(body.healthy_services)} backends healthy; ${reg}`;
  },
};

const backendsStep: Step = {
  id: 'backends',
  title: 'test backends',
  needs: [],
  async run(run) {
    const host = run.o.backendHost;
    const specs = ['a', 'b'].map((l) => ({ name: `validate-${run.o.id}-${l}-server`, models: [run.model, `${run.model}-${l}`] }));
    const procs = await Promise.all(
      specs.map((s) =>
        run.fleet.start(`sim ${s.name}`, ['sim', '--port', '0', '--host', host, '--models', s.models.join(','), '--decode-ms', '1', '--seed', '1', '--default-max-tokens', '8'], run.signal),
      ),
    );
    run.backends = specs.map((s, i): TestBackend => {
      const proc = procs[i]!;
      const port = Number(new URL(proc.url).port);
      const h = host.includes(':') ? `[${host}]` : host;
      return { ...s, proc, host, port, url: `http://${h}:${port}` };
    });
    for (const b of run.backends) {
      expectStatus(await call(run, `${b.url}/health`), `${b.name} GET /health`, 200);
      const m = await call(run, `${b.url}/v1/models`);
      expectStatus(m, `${b.name} GET /v1/models`, 200);
      const data = obj(m.json).data;
      const ids = Array.isArray(data) ? data.map((d) => obj(d).id) : [];
      for (const id of b.models) if (!ids.includes(id)) fail(`${b.name} /v1/models does not list ${id}`);
    }
    return run.backends.map((b) => `${b.name} at ${b.url} (pid ${b.proc.child.pid}; ${b.models.join(', ')})`).join('; ');
  },
};

const registerStep: Step = {
  id: 'register',
  title: 'registration',
  needs: ['registry', 'backends'],
  async run(run) {
    for (const b of run.backends) {
      const record = {
        name: b.name,
        host: b.host,
        port: b.port,
        hostname: hostname(),
        url: b.url,
        status: 'running',
        metadata: { type: 'openai-api', models: b.models, test: true, description: 'switchboard validate test backend', health_url: `${b.url}/health` },
      };
      const r = await call(run, `${run.registryUrl}/services`, { body: record, token: run.o.token });
      if (r.status === 401) fail('registry POST /services answered 401: it needs its token (--token or SWITCHBOARD_TOKEN)');
      expectStatus(r, `registry POST /services (${b.name})`, 201);
      run.registered.add(b.name);
      const hb = await call(run, `${run.registryUrl}/services/${encodeURIComponent(b.name)}/heartbeat`, { method: 'POST', body: {}, token: run.o.token });
      expectStatus(hb, `registry POST /services/${b.name}/heartbeat`, 200);
    }
    const list = await call(run, `${run.registryUrl}/services`);
    expectStatus(list, 'registry GET /services', 200);
    const services = obj(list.json).services;
    const byName = new Map((Array.isArray(services) ? services : []).map((s) => [obj(s).name, obj(s)]));
    for (const b of run.backends) {
      const rec = byName.get(b.name);
      if (!rec) fail(`registry /services does not list ${b.name} after it was registered`);
      if (obj(rec.metadata).type !== 'openai-api') fail(`registry lists ${b.name} without metadata.type "openai-api"`);
      if (rec.is_healthy !== true) fail(`registry lists ${b.name} with is_healthy ${String(rec.is_healthy)}`);
    }
    return `${run.backends.map((b) => b.name).join(' and ')}: POST 201, heartbeat 200, listed healthy as openai-api`;
  },
};

const discoveryStep: Step = {
  id: 'discovery',
  title: 'discovery',
  needs: ['register', 'router'],
  async run(run) {
    const names = run.backends.map((b) => b.name);
    let last = new Map<string, { healthy: boolean; state: string }>();
    const seen = await poll(run, run.o.discoveryTimeoutMs, async () => {
      last = await routerServices(run);
      return names.every((n) => last.get(n)?.healthy === true) ? true : undefined;
    });
    if (!seen) {
      const views = names.map((n) => `${n}: ${last.get(n)?.state ?? 'not listed'}`).join(', ');
      const h = obj((await call(run, `${run.routerUrl}/health`)).json);
      fail(`after ${run.o.discoveryTimeoutMs} ms the router shows ${views}; its registry is ${typeof h.registry_url === 'string' ? h.registry_url : 'none'}`);
    }
    run.discovered = true;
    return `the router lists both as healthy (waited ${seen.ms} ms)`;
  },
};

export const SETUP_STEPS: Step[] = [fleetStep, registryStep, routerStep, backendsStep, registerStep, discoveryStep];
