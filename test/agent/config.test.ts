import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { agentConfigSchema, type AgentConfig } from '../../src/agent/config.js';
import { presetFor } from '../../src/agent/presets/index.js';
import { agentLayers } from '../../src/cli/commands/agent.js';
import { parseConfig, type SwitchboardError } from '../../src/core/index.js';
import { runSwitchboard } from '../helpers/process.js';

function tempFile(t: TestContext, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-agent-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Parses flags as `switchboard agent` does. */
function fromArgs(values: Record<string, string | boolean | string[]>, env: NodeJS.ProcessEnv = {}): AgentConfig {
  return parseConfig(agentConfigSchema, agentLayers(values, env).layers);
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.equal((err as SwitchboardError).code, 'SB_ERR_CONFIG_INVALID', String(err));
    return (err as Error).message;
  }
  assert.fail('the config was accepted');
}

// A deployment file of the original (deployment/cases/cache-type-routing-validation), verbatim keys.
const VLLM_TOML = `
name = "vllm-qwen3-32b-1"
host = "0.0.0.0"
port = 8400
registry_url = "http://localhost:18000"
router_url = "http://localhost:8000"

[babysitter]
max_restarts = 10000
restart_delay = 5
heartbeat_interval = 30

[backend]
type = "vllm"
model = "/models/Qwen3-32B"
args = ["--tensor-parallel-size", "4", "--gpu-memory-utilization", "0.9"]

[backend.env]
CUDA_VISIBLE_DEVICES = "0,1,2,3"

[metadata]
backend_type = "vllm"
static = true
`;

describe('agent config: the Rust babysitter TOML', () => {
  it('reads an original deployment file with its defaults and units', (t) => {
    const file = tempFile(t, 'vllm.toml', VLLM_TOML);
    const c = fromArgs({ 'config-file': file });
    assert.equal(c.name, 'vllm-qwen3-32b-1');
    assert.equal(c.port, 8400);
    assert.equal(c.agentPort, 8401);
    assert.equal(c.registryUrl, 'http://localhost:18000');
    assert.equal(c.restartDelayMs, 5000);
    assert.equal(c.heartbeatIntervalMs, 30_000);
    assert.equal(c.maxRestarts, 10_000);
    assert.deepEqual(c.metadata, { backend_type: 'vllm', static: true });
    assert.equal(c.backend.type, 'vllm');
    const spec = presetFor(c.backend).launch({ name: c.name, host: c.host, port: c.port });
    assert.deepEqual(spec.env, { CUDA_VISIBLE_DEVICES: '0,1,2,3' });
    assert.notEqual(c.advertiseHost, '0.0.0.0', 'a wildcard host is not what gets registered');
  });

  it('names the default service as the Rust babysitter does: <service type>-<port>', (t) => {
    const file = tempFile(t, 'a.toml', 'port = 8100\n[backend]\ntype = "infinilm-rust"\nconfig_file = "/srv/service.toml"\n');
    assert.equal(fromArgs({ 'config-file': file }).name, 'infinilm-rust-8100');
  });

  it('lets flags override the file (name, port, registry)', (t) => {
    const file = tempFile(t, 'a.toml', VLLM_TOML);
    const c = fromArgs({ 'config-file': file, name: 'other', port: '9000', 'registry-url': 'http://10.0.0.1:8081' });
    assert.equal(c.name, 'other');
    assert.equal(c.port, 9000);
    assert.equal(c.registryUrl, 'http://10.0.0.1:8081');
  });

  const cases: { what: string; toml: string; key: RegExp }[] = [
    { what: 'an unknown top-level key', toml: 'port = 1\nregistry = "http://x"\n[backend]\ntype = "sim"\n', key: /unknown key 'registry'/ },
    { what: 'an unknown [babysitter] key, with a hint', toml: 'port = 1\n[babysitter]\nmax_restart = 3\n[backend]\ntype = "sim"\n', key: /unknown key 'babysitter\.max_restart' \(did you mean 'max_restarts'\?\)/ },
    { what: 'an unknown [backend] key', toml: 'port = 1\n[backend]\ntype = "command"\ncommand = "x"\ncmd_args = []\n', key: /unknown key 'backend\.cmd_args'/ },
    { what: 'a missing backend field', toml: 'port = 1\n[backend]\ntype = "vllm"\n', key: /'backend\.model'/ },
    { what: 'a missing port', toml: '[backend]\ntype = "sim"\n', key: /'port'/ },
    { what: 'a missing [backend]', toml: 'port = 8100\n', key: /'backend'/ },
    { what: 'an unknown backend type', toml: 'port = 1\n[backend]\ntype = "triton"\n', key: /'backend\.type' Invalid discriminator value/ },
    { what: 'a wrong type', toml: 'port = "8100"\n[backend]\ntype = "sim"\n', key: /'port' Invalid input: expected number/ },
    { what: 'a wrong type in a table', toml: 'port = 1\n[babysitter]\nrestart_delay = "soon"\n[backend]\ntype = "sim"\n', key: /'babysitter\.restart_delay' expected seconds/ },
    { what: 'a wrong args type', toml: 'port = 1\n[backend]\ntype = "command"\ncommand = "x"\nargs = "--port 1"\n', key: /'backend\.args'/ },
    { what: 'a registry URL that is not one', toml: 'port = 1\nregistry_url = "localhost:8081"\n[backend]\ntype = "sim"\n', key: /'registry_url' registry_url must be an absolute http/ },
  ];
  for (const c of cases) {
    it(`refuses ${c.what}, naming the key and the file`, (t) => {
      const file = tempFile(t, 'bad.toml', c.toml);
      const msg = refusal(() => fromArgs({ 'config-file': file, 'advertise-host': 'node-1.example' }));
      assert.match(msg, c.key);
      // the file is named as the place of the problem, even when flags were given too
      assert.ok(msg.includes(`config file ${file}: `), msg);
    });
  }

  it('refuses at start from the command line: exit 2, key and file on stderr', async (t) => {
    const file = tempFile(t, 'bad.toml', 'port = 8100\n[backend]\ntype = "vllm"\nmodle = "/m"\n');
    const r = await runSwitchboard(['agent', '--config-file', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown key 'backend\.modle' \(did you mean 'model'\?\)/);
    assert.match(r.stderr, /'backend\.model'/);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, /SB_ERR_CONFIG_INVALID/);
  });

  it('refuses a TOML syntax error naming the file', async (t) => {
    const file = tempFile(t, 'broken.toml', 'port = \n');
    const r = await runSwitchboard(['agent', '--config-file', file]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(file) && /SB_ERR_CONFIG_FILE/.test(r.stderr), r.stderr);
  });
});

describe('agent config: the original babysitters\' flags', () => {
  it('Python: --service-type InfiniLM --path builds launch_server.py with its defaults', () => {
    const c = fromArgs({ 'service-type': 'InfiniLM', path: '/models/Qwen3', port: '8100', registry: 'http://127.0.0.1:8081' });
    assert.equal(c.registryUrl, 'http://127.0.0.1:8081');
    const spec = presetFor(c.backend).launch({ name: c.name, host: c.host, port: c.port });
    assert.equal(spec.command, 'python3');
    assert.deepEqual(spec.args, ['scripts/launch_server.py', '--port', '8100', '--host', 'localhost', '--model-path', '/models/Qwen3', '--dev', 'nvidia', '--ndev', '1', '--max-batch', '3', '--request-timeout', '300']);
  });

  it('Python: --path alone means InfiniLM, and the port defaults to 5000', () => {
    const c = fromArgs({ path: '/m', awq: true, 'max-tokens': '512', 'launch-script': '/opt/InfiniLM/scripts/launch_server.py' });
    assert.equal(c.port, 5000);
    assert.equal(c.name, 'infinilm-5000');
    const spec = presetFor(c.backend).launch({ name: c.name, host: c.host, port: c.port });
    assert.equal(spec.args[0], '/opt/InfiniLM/scripts/launch_server.py');
    assert.deepEqual(spec.args.slice(-3), ['--max-tokens', '512', '--awq']);
  });

  it('Rust: --command and --args (space-separated) with --env', () => {
    const c = fromArgs({ port: '8100', command: 'python3 mock_service.py', args: '--name a --port 8100', env: ['CUDA_VISIBLE_DEVICES=0 X=1'] });
    assert.equal(c.name, 'command-8100');
    const spec = presetFor(c.backend).launch({ name: c.name, host: c.host, port: c.port });
    assert.deepEqual([spec.command, ...spec.args], ['python3', 'mock_service.py', '--name', 'a', '--port', '8100']);
    assert.deepEqual(spec.env, { CUDA_VISIBLE_DEVICES: '0', X: '1' });
  });

  it('Rust: --service-type vLLM --path', () => {
    const c = fromArgs({ 'service-type': 'vLLM', path: '/models/x', port: '8200', host: '10.0.0.5' });
    assert.equal(c.name, 'vllm-8200');
    assert.equal(c.advertiseHost, '10.0.0.5');
    const spec = presetFor(c.backend).launch({ name: c.name, host: c.host, port: c.port });
    assert.deepEqual(spec.args, ['-m', 'vllm.entrypoints.openai.api_server', '--model', '/models/x', '--port', '8200', '--host', '10.0.0.5']);
  });

  it('refuses backend flags beside a config file, and an unknown service type', (t) => {
    const file = tempFile(t, 'a.toml', VLLM_TOML);
    assert.throws(() => agentLayers({ 'config-file': file, command: 'x' }, {}), /--command cannot be combined with --config-file/);
    assert.throws(() => agentLayers({ 'service-type': 'triton', path: 'x' }, {}), /--service-type: expected one of/);
    assert.throws(() => agentLayers({ 'service-type': 'vLLM' }, {}), /--path is required for --service-type vLLM/);
    assert.throws(() => agentLayers({ port: '1' }, {}), /nothing to run/);
  });

  it('takes tokens from the environment', () => {
    const c = fromArgs({ models: 'a' }, { SWITCHBOARD_TOKEN: 'reg-secret', SWITCHBOARD_AGENT_TOKEN: 'admin-secret' });
    assert.equal(c.registryToken, 'reg-secret');
    assert.equal(c.adminToken, 'admin-secret');
    assert.equal(c.backend.type, 'sim');
  });
});
