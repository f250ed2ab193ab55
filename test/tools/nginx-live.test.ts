// The generated configs against a real nginx: `nginx -t` accepts them, and a running nginx
// routes to two node:http backends, streams SSE unbuffered, and serves /health, /services and
// /backend-health. nginx runs unprivileged-style: everything it writes goes to a scratch
// --runtime-dir, started in the foreground (`daemon off;`) and stopped at test end.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { generateNginxConfig, LOAD_BALANCING, NGINX_DEFAULTS } from '../../src/tools/nginx-config.js';
import { servicesFromSpec } from '../../src/tools/services-source.js';
import { eventually, runSwitchboard } from '../helpers/process.js';
import { requireTool } from '../helpers/services.js';

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-nginx-live-'));
  chmodSync(dir, 0o755); // nginx workers drop root privileges
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function nginxTest(dir: string, conf: string): { ok: boolean; output: string } {
  const r = spawnSync('nginx', ['-t', '-p', `${dir}/`, '-c', conf, '-e', join(dir, 'early.log')], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function listen(t: TestContext, server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as AddressInfo).port;
}

function get(url: string): Promise<{ status: number; body: string; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body, res }));
    }).on('error', reject).end();
  });
}

describe('generated configs pass nginx -t', () => {
  for (const method of LOAD_BALANCING) {
    for (const buffered of [false, true]) {
      it(`${method}${buffered ? ', --buffered' : ''}`, (t) => {
        if (!requireTool(t, 'nginx')) return;
        const dir = scratch(t);
        const conf = join(dir, 'nginx.conf');
        const services = servicesFromSpec("a:127.0.0.1:9001,b:127.0.0.1:9002:3,c'$\\\"d:127.0.0.1:9003");
        writeFileSync(conf, generateNginxConfig(services, { ...NGINX_DEFAULTS, loadBalancing: method, buffered, routerHost: '127.0.0.1', runtimeDir: dir }));
        const r = nginxTest(dir, conf);
        assert.ok(r.ok, r.output);
      });
    }
  }

  it('rejects, as nginx does, what the original generated for ip_hash with a backup (the reason we refuse it)', (t) => {
    if (!requireTool(t, 'nginx')) return;
    const dir = scratch(t);
    const conf = join(dir, 'nginx.conf');
    const text = generateNginxConfig(servicesFromSpec('a:127.0.0.1:9001'), { ...NGINX_DEFAULTS, loadBalancing: 'ip_hash', runtimeDir: dir, routerHost: '127.0.0.1' });
    writeFileSync(conf, text.replace('server 127.0.0.1:9001;', 'server 127.0.0.1:9001 backup;'));
    const r = nginxTest(dir, conf);
    assert.equal(r.ok, false);
    assert.match(r.output, /does not support parameter "backup"/);
  });
});

describe('a running nginx with the generated config', () => {
  it('balances over both backends, streams SSE unbuffered, serves /health, /services and /backend-health', async (t) => {
    if (!requireTool(t, 'nginx')) return;
    const dir = scratch(t);
    const hits = { a: 0, b: 0 };
    // Both backends stream: the first event, then (once the client has it, or after 5 s) the rest.
    let clientGotFirst: () => void = () => undefined;
    const firstSeen = new Promise<void>((r) => (clientGotFirst = r));
    let streamedBeforeEnd: boolean | undefined;
    const backend = (id: 'a' | 'b'): Server =>
      createServer((req, res) => {
        if (req.url === '/health') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`{"status":"healthy","id":"${id}"}`);
        if (req.url === '/v1/chat/completions') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: {"n":1}\n\n');
          const giveUp = new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref());
          void Promise.race([firstSeen.then(() => true), giveUp]).then((streamed) => {
            streamedBeforeEnd = streamed;
            res.end('data: {"n":2}\n\ndata: [DONE]\n\n');
          });
          return;
        }
        hits[id]++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(`{"backend":"${id}","url":"${req.url}"}`);
      });
    const portA = await listen(t, backend('a'));
    const portB = await listen(t, backend('b'));
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    const services = join(dir, 'services.json');
    const trickyName = 'gpu "a" \\ it\'s $HOME';
    writeFileSync(services, JSON.stringify({ services: [{ name: trickyName, host: '127.0.0.1', port: portA }, { name: 'gpu-b', host: '127.0.0.1', port: portB, max_fails: 2 }] }));
    const gen = await runSwitchboard(['nginx-config', '--config-file', services, '--router-host', '127.0.0.1', '--router-port', String(port), '--runtime-dir', dir, '-o', conf]);
    assert.equal(gen.code, 0, gen.stderr);
    assert.equal(gen.stdout, `Nginx configuration saved to: ${conf}\n`);

    const nginx = spawn('nginx', ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'early.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let nginxErr = '';
    nginx.stderr.setEncoding('utf8').on('data', (d: string) => (nginxErr += d));
    const exited = once(nginx, 'exit');
    t.after(async () => {
      if (nginx.exitCode === null && nginx.signalCode === null) {
        nginx.kill('SIGTERM');
        await exited;
      }
    });
    const base = `http://127.0.0.1:${port}`;
    const health = await eventually(async () => {
      if (nginx.exitCode !== null) throw new Error(`nginx exited: ${nginxErr}`);
      return await get(`${base}/health`);
    });
    assert.equal(health.body, 'healthy\n');
    assert.deepEqual(health.res.rawHeaders.filter((h) => h.toLowerCase() === 'content-type'), ['Content-Type'], 'one Content-Type header');

    for (let i = 0; i < 4; i++) {
      const r = await get(`${base}/v1/models?i=${i}`);
      assert.equal(r.status, 200);
    }
    assert.ok(hits.a > 0 && hits.b > 0, `round robin reached both backends: ${JSON.stringify(hits)}`);
    assert.equal(hits.a + hits.b, 4);

    const info = await get(`${base}/services`);
    assert.equal(info.res.headers['content-type'], 'application/json');
    assert.equal(info.res.rawHeaders.filter((h) => h.toLowerCase() === 'content-type').length, 1);
    assert.deepEqual(JSON.parse(info.body), {
      upstream: 'infinilm_backend',
      load_balancing_method: 'round_robin',
      services: [
        { name: trickyName, host: '127.0.0.1', port: portA, weight: 1, max_fails: 3, fail_timeout: '30s', backup: false },
        { name: 'gpu-b', host: '127.0.0.1', port: portB, weight: 1, max_fails: 2, fail_timeout: '30s', backup: false },
      ],
      total_services: 2,
    });

    const backendHealth = await get(`${base}/backend-health`);
    assert.equal(backendHealth.status, 200);
    assert.match(backendHealth.body, /^\{"status":"healthy","id":"[ab]"\}$/);

    const chunks: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request(`${base}/v1/chat/completions`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          chunks.push(d);
          if (d.includes('"n":1')) clientGotFirst();
        });
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end('{"model":"m","stream":true}');
    });
    assert.equal(chunks.join(''), 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n');
    assert.equal(streamedBeforeEnd, true, 'the first event reached the client before the backend finished the stream');
  });
});
