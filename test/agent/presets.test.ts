import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backendSchema, BACKEND_TYPES, type BackendInput, type BackendType } from '../../src/agent/config.js';
import { presetFor } from '../../src/agent/presets/index.js';
import { llamaLoadFromSlots, promValues, tgiLoadFromMetrics, vllmLoadFromMetrics } from '../../src/agent/presets/load.js';
import { NODE_FLAGS, packageRoot } from '../../src/core/index.js';

const ctx = { name: 'node-a', host: '0.0.0.0', port: 8100 };
const preset = (b: BackendInput) => presetFor(backendSchema.parse(b));
const argv = (b: BackendInput) => {
  const s = preset(b).launch(ctx);
  return [s.command, ...s.args];
};

// One backend table per type: the contract below runs against each.
const EXAMPLES: Record<BackendType, BackendInput> = {
  command: { type: 'command', command: '/opt/conda/bin/python', args: ['server.py', '--port', '{port}'] },
  vllm: { type: 'vllm', model: '/models/Qwen3-32B' },
  mock: { type: 'mock', models: ['model-a'] },
  'infinilm-rust': { type: 'infinilm-rust', config_file: '/srv/service.toml' },
  infinilm: { type: 'infinilm', model_path: '/models/9g_8b' },
  sim: { type: 'sim', models: ['m'] },
  'llama.cpp': { type: 'llama.cpp', model: '/models/q.gguf' },
  tgi: { type: 'tgi', model: 'Qwen/Qwen3-8B' },
};

describe('engine presets: command lines of the engines we cannot run here', () => {
  it('vLLM: the Rust babysitter\'s api_server command line, then args; env and work_dir carried', () => {
    const s = preset({ type: 'vllm', model: '/models/Qwen3-32B', args: ['--tensor-parallel-size', '4'], work_dir: '/srv', env: { CUDA_VISIBLE_DEVICES: '0,1,2,3' } }).launch(ctx);
    assert.deepEqual([s.command, ...s.args], ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', '/models/Qwen3-32B', '--port', '8100', '--host', '0.0.0.0', '--tensor-parallel-size', '4']);
    assert.equal(s.cwd, '/srv');
    assert.deepEqual(s.env, { CUDA_VISIBLE_DEVICES: '0,1,2,3' });
  });

  it('llama.cpp: llama-server --model --host --port [--alias], then args', () => {
    assert.deepEqual(argv({ type: 'llama.cpp', model: '/models/q.gguf', alias: 'qwen', args: ['-ngl', '99', '-c', '8192'] }), ['llama-server', '--model', '/models/q.gguf', '--host', '0.0.0.0', '--port', '8100', '--alias', 'qwen', '-ngl', '99', '-c', '8192']);
    assert.deepEqual(argv({ type: 'llama.cpp', model: 'm.gguf', binary: '/opt/llama/llama-server' }).slice(0, 2), ['/opt/llama/llama-server', '--model']);
  });

  it('TGI: text-generation-launcher --model-id --hostname --port, then args', () => {
    assert.deepEqual(argv({ type: 'tgi', model: 'Qwen/Qwen3-8B', args: ['--max-batch-size', '32'] }), ['text-generation-launcher', '--model-id', 'Qwen/Qwen3-8B', '--hostname', '0.0.0.0', '--port', '8100', '--max-batch-size', '32']);
  });

  it('InfiniLM-Rust: xtask service <config> -p <port>, with ~/.cargo/bin first on PATH', () => {
    const s = preset({ type: 'infinilm-rust', config_file: '/srv/service.toml', work_dir: '/srv/InfiniLM-Rust' }).launch(ctx);
    assert.deepEqual([s.command, ...s.args], ['xtask', 'service', '/srv/service.toml', '-p', '8100']);
    assert.equal(s.cwd, '/srv/InfiniLM-Rust');
    assert.ok(s.env.PATH?.startsWith(`${join(homedir(), '.cargo', 'bin')}:`));
  });

  it('InfiniLM (Python): launch_server.py --port --host --model-path, then args, from work_dir', () => {
    const s = preset({ type: 'infinilm', model_path: '/models/9g', args: ['--dev', 'metax'], work_dir: '/workspace/InfiniLM' }).launch(ctx);
    assert.deepEqual([s.command, ...s.args], ['python3', 'scripts/launch_server.py', '--port', '8100', '--host', '0.0.0.0', '--model-path', '/models/9g', '--dev', 'metax']);
    assert.equal(s.cwd, '/workspace/InfiniLM');
  });

  it('command: the program split on spaces, args kept whole, {port} {host} {name} filled in', () => {
    assert.deepEqual(argv({ type: 'command', command: 'python3 -u', args: ['serve.py', '--title', 'a b', '--port', '{port}', '--bind={host}', '--name', '{name}'] }), ['python3', '-u', 'serve.py', '--title', 'a b', '--port', '8100', '--bind=0.0.0.0', '--name', 'node-a']);
    assert.equal(preset({ type: 'command', command: 'x', args: ['--port', '8100'] }).portable, false, 'a fixed port cannot run as replicas');
    assert.equal(preset(EXAMPLES.command).portable, true);
  });

  it('sim and mock: this node binary running this package\'s launcher, without a GPU', () => {
    assert.deepEqual(argv({ type: 'sim', models: ['a', 'b'], kind: 'embeddings', args: ['--decode-ms', '0'] }), [process.execPath, ...NODE_FLAGS, join(packageRoot(), 'bin', 'switchboard.js'), 'sim', '--host', '0.0.0.0', '--port', '8100', '--models', 'a,b', '--kind', 'embeddings', '--decode-ms', '0']);
    assert.deepEqual(preset({ type: 'sim', models: ['e'], kind: 'embeddings' }).metadata, { type: 'embeddings' });
    const mock = argv({ type: 'mock', models: ['model-a', 'model-b'] });
    assert.deepEqual(mock.slice(mock.indexOf('sim'), mock.indexOf('sim') + 7), ['sim', '--host', '0.0.0.0', '--port', '8100', '--models', 'model-a,model-b']);
  });

  it('the contract covers every backend type', () => {
    assert.deepEqual(Object.keys(EXAMPLES).sort(), [...BACKEND_TYPES].sort());
  });

  for (const [type, example] of Object.entries(EXAMPLES)) {
    it(`contract: ${type} puts the port on its command line and knows where its model list is`, () => {
      const p = preset(example);
      const line = argv(example);
      assert.ok(line.includes('8100'), `${type}: ${line.join(' ')}`);
      assert.ok(p.modelsPaths.length > 0 && p.modelsPaths.every((m) => m.startsWith('/')));
      assert.ok(p.healthPath === undefined || p.healthPath.startsWith('/'));
      assert.ok(!line.includes('9999'));
      const other = preset(example).launch({ ...ctx, port: 9999 });
      assert.ok([other.command, ...other.args].includes('9999'), `${type} follows the port it is given`);
    });
  }
});

describe('engine load readers', () => {
  const VLLM = [
    '# HELP vllm:num_requests_running Number of requests in model execution batches.',
    '# TYPE vllm:num_requests_running gauge',
    'vllm:num_requests_running{engine="0",model_name="qwen"} 3.0',
    'vllm:num_requests_running{engine="1",model_name="qwen"} 2.0',
    'vllm:num_requests_waiting{engine="0",model_name="qwen"} 7.0',
    'vllm:num_requests_waiting_by_reason{reason="capacity"} 99',
    'vllm:kv_cache_usage_perc{engine="0",model_name="a model with } spaces"} 0.42',
    'vllm:prompt_tokens_total{model_name="qwen"} 1234',
    '',
  ].join('\n');

  it('vLLM: running and waiting summed over engines, KV use, other series ignored', () => {
    assert.deepEqual(vllmLoadFromMetrics(VLLM), { running: 5, waiting: 7, kv_cache_usage: 0.42 });
  });

  it('vLLM before 0.7: gpu_cache_usage_perc', () => {
    assert.deepEqual(vllmLoadFromMetrics('vllm:num_requests_running 1\nvllm:num_requests_waiting 0\nvllm:gpu_cache_usage_perc 0.5\n'), { running: 1, waiting: 0, kv_cache_usage: 0.5 });
  });

  it('an exposition without vLLM\'s gauges has no load', () => {
    assert.equal(vllmLoadFromMetrics('process_cpu_seconds_total 1\n'), undefined);
  });

  it('TGI: batch size runs, queue waits', () => {
    assert.deepEqual(tgiLoadFromMetrics('tgi_batch_current_size 4\ntgi_queue_size 9\ntgi_request_count 100\n'), { running: 4, waiting: 9 });
  });

  it('llama.cpp: processing slots', () => {
    assert.deepEqual(llamaLoadFromSlots([{ id: 0, is_processing: true }, { id: 1, is_processing: false }, { id: 2, is_processing: true }]), { running: 2 });
    assert.equal(llamaLoadFromSlots({ error: 'x' }), undefined);
  });

  it('reads values with timestamps and skips malformed lines', () => {
    assert.deepEqual(Object.fromEntries(promValues('a{x="1"} 2 1700000000000\na\nb 3\na{y="2"} 5\n', ['a', 'b'])), { a: 7, b: 3 });
  });
});
