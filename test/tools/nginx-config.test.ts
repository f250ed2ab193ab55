import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { isSwitchboardError, packageRoot } from '../../src/core/index.js';
import { generateNginxConfig, NGINX_DEFAULTS, type NginxConfigOptions } from '../../src/tools/nginx-config.js';
import { servicesFromFile, servicesFromRegistry, servicesFromSpec } from '../../src/tools/services-source.js';
import { runSwitchboard } from '../helpers/process.js';

const FIXTURES = join(packageRoot(), 'test', 'tools', 'fixtures', 'nginx-config');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const OPTS: NginxConfigOptions = { ...NGINX_DEFAULTS };

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-nginx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isSwitchboardError(err), `expected a catalog error, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected an error');
}

describe('nginx-config output', () => {
  it('writes the golden config for a services file', () => {
    assert.equal(generateNginxConfig(servicesFromFile(join(FIXTURES, 'services.json')), OPTS), fixture('file.conf'));
  });

  it('differs from the original only where the original was wrong (--buffered)', () => {
    // original-file.conf is what generate_nginx_config.py wrote for services.json.
    const ours = generateNginxConfig(servicesFromFile(join(FIXTURES, 'services.json')), { ...OPTS, buffered: true });
    const undone = ours
      .replace('            # default_type, not add_header: add_header sent a second Content-Type header\n            default_type text/plain;', '            add_header Content-Type text/plain;')
      .replace('default_type application/json;', 'add_header Content-Type application/json;')
      .replace(" (each backend's /health; the original asked for /backend-health)", '')
      .replace('proxy_pass http://infinilm_backend_health/health;', 'proxy_pass http://infinilm_backend_health;');
    assert.equal(undone, fixture('original-file.conf'));
  });

  it('writes the golden config for --services with every flag (CLI, stdout adds one newline)', async () => {
    const r = await runSwitchboard([
      'nginx-config',
      '--services', 'gpu1:10.0.0.1:8000,gpu2:10.0.0.2:8000:2',
      '--upstream-name', 'llm',
      '--router-port', '9000',
      '--load-balancing', 'least_conn',
      '--proxy-timeout', '1800',
      '--proxy-connect-timeout', '5',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${fixture('spec.conf')}\n`);
  });

  const methods = [
    ['round_robin', ''],
    ['least_conn', '        least_conn;\n'],
    ['ip_hash', '        ip_hash;\n'],
  ] as const;
  for (const [method, directive] of methods) {
    it(`load balancing ${method}: the method line, then the servers, then keepalive`, () => {
      const text = generateNginxConfig(servicesFromSpec('a:10.0.0.1:1,b:10.0.0.2:2:5'), { ...OPTS, loadBalancing: method });
      const upstream = /upstream infinilm_backend \{\n([\s\S]*?)\n {4}\}/.exec(text)?.[1];
      assert.equal(
        `${upstream}\n`,
        `        # Load balancing method: ${method}\n${directive}        server 10.0.0.1:1;  # a\n        server 10.0.0.2:2 weight=5;  # b\n` +
          '        # Idle keep-alive connections to the backends (after the balancing method, as nginx requires)\n        keepalive 32;\n',
      );
    });
  }

  it('brackets IPv6 backends and escapes /services text for nginx', () => {
    const text = generateNginxConfig(
      [{ name: "it's $x \\ \"q\"\nz", host: '::1', port: 8000, weight: 1, maxFails: 3, failTimeout: '30s', backup: false }],
      { ...OPTS, routerHost: '::1' },
    );
    assert.match(text, /server \[::1\]:8000; {2}# it's \$x \\ "q" z\n/);
    assert.match(text, /listen \[::1\]:8080;/);
    assert.match(text, /"name": "it\\'s \\u0024x \\\\\\\\ \\\\"q\\\\"\\\\nz"/);
  });

  it('refuses ip_hash with a backup server, which nginx -t rejects', () => {
    const services = servicesFromFile(join(FIXTURES, 'services.json'));
    assert.equal(errorOf(() => generateNginxConfig(services, { ...OPTS, loadBalancing: 'ip_hash' })), "service 'service_3': backup servers cannot be used with ip_hash (nginx rejects the combination)");
  });
});

describe('nginx-config inputs', () => {
  const badSpecs: [string, string][] = [
    ['a:10.0.0.1', "--services entry 'a:10.0.0.1': expected name:host:port[:weight]"],
    ['a:10.0.0.1:http', "--services entry 'a:10.0.0.1:http': port 'http' is not a number"],
    ['a:10.0.0.1:80:x', "--services entry 'a:10.0.0.1:80:x': weight 'x' is not a number"],
    ['a:10.0.0.1:80:0', "--services entry 'a:10.0.0.1:80:0': weight: expected an integer >= 1"],
    ['a:10.0.0.1:70000', "--services entry 'a:10.0.0.1:70000': port: expected a port number (1-65535)"],
    [':10.0.0.1:80', "--services entry ':10.0.0.1:80': the name is empty (expected name:host:port[:weight])"],
    ['a:10.0.0.1:80,', "--services entry '': expected name:host:port[:weight]"],
    ['a:bad host:80', "--services entry 'a:bad host:80': host: expected a host name or IP address"],
  ];
  for (const [spec, message] of badSpecs) {
    it(`rejects --services '${spec}'`, () => assert.equal(errorOf(() => servicesFromSpec(spec)), message));
  }

  it('names the file and the entry for a bad services file', (t) => {
    const file = join(scratch(t), 's.json');
    writeFileSync(file, JSON.stringify({ services: [{ host: '10.0.0.1', port: 80 }, { host: '10.0.0.2' }] }));
    assert.equal(errorOf(() => servicesFromFile(file)), `${file}: services[1].port: missing (expected a port number (1-65535))`);
    writeFileSync(file, JSON.stringify({ services: [{ host: '10.0.0.1', port: 80, fail_timeout: 'soon' }] }));
    assert.equal(errorOf(() => servicesFromFile(file)), `${file}: services[0].fail_timeout: expected an nginx time such as "30s", or seconds`);
    const missing = join(file, '..', 'none.json');
    assert.equal(errorOf(() => servicesFromFile(missing)), `Configuration file not found: ${missing}`);
  });

  it('exits 1 with Error: when there are no services, and 2 on a malformed flag', async () => {
    const none = await runSwitchboard(['nginx-config']);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'Error: No services configured. Use --config-file, --services or --registry-url to specify services.\n');
    assert.equal(none.stdout, '');
    const bad = await runSwitchboard(['nginx-config', '--services', 'a:h:1', '--load-balancing', 'random']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--load-balancing: expected one of round_robin, least_conn, ip_hash, got 'random'/);
  });
});

interface FakeRegistry {
  url: string;
  queries: string[];
}

async function fakeRegistry(t: TestContext, status: number, body: unknown): Promise<FakeRegistry> {
  const queries: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    queries.push(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, queries };
}

/** A record as the registry returns it (reference §1.2 / docs/architecture.md). */
function record(name: string, port: number, metadata: Record<string, unknown>): Record<string, unknown> {
  return {
    name, host: '127.0.0.1', port, hostname: 'node-1', url: `http://127.0.0.1:${port}`, status: 'running',
    timestamp: '2026-01-01T00:00:00+00:00', last_heartbeat: 1767225600, health_status: 'healthy', metadata, is_healthy: true,
  };
}

describe('nginx-config --registry-url', () => {
  it('takes the healthy openai-api services, sorted by name, with their metadata attributes', async (t) => {
    const reg = await fakeRegistry(t, 200, {
      services: [
        record('node-b-server', 8200, { type: 'openai-api', models: ['m'], weight: 3, max_fails: 2, fail_timeout: 15 }),
        record('node-b', 8201, { type: 'InfiniLM-Rust', babysitter: 'enhanced' }),
        record('node-a-server', 8100, { type: 'openai-api', models: ['m'] }),
        record('embedder', 20002, { type: 'embeddings' }),
      ],
      total: 4,
      timestamp: '2026-01-01T00:00:00',
    });
    const r = await runSwitchboard(['nginx-config', '--registry-url', `${reg.url}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(reg.queries, ['/services?healthy=true']);
    assert.match(r.stdout, /upstream infinilm_backend \{\n {8}# Load balancing method: round_robin\n {8}server 127\.0\.0\.1:8100; {2}# node-a-server\n {8}server 127\.0\.0\.1:8200 weight=3 max_fails=2 fail_timeout=15; {2}# node-b-server\n {8}# Idle/);
    assert.match(r.stdout, /"total_services": 2\n/);
  });

  it('reports a registry that answers an error, has no usable service, or is not there', async (t) => {
    const failing = await fakeRegistry(t, 500, { error: 'Internal server error' });
    await assert.rejects(servicesFromRegistry(failing.url), /Registry at http:\/\/127\.0\.0\.1:\d+ answered 500: \{"error":"Internal server error"\}/);
    const empty = await fakeRegistry(t, 200, { services: [record('node-a', 8101, { type: 'InfiniLM' })], total: 1 });
    const r = await runSwitchboard(['nginx-config', '--registry-url', empty.url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: No services configured\./);
    const bad = await fakeRegistry(t, 200, { services: [record('x', 0, { type: 'openai-api', weight: 0 })] });
    await assert.rejects(servicesFromRegistry(bad.url), { message: "registry service 'x': port: expected a port number (1-65535)" });
    const closed = bad.url.replace(/:\d+$/, ':1');
    await assert.rejects(servicesFromRegistry(closed), /Registry at http:\/\/127\.0\.0\.1:1 unreachable: /);
  });
});
