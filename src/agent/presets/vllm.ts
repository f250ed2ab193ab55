// type = "vllm": the Rust babysitter's command line, `python3 -m vllm.entrypoints.openai.api_server
// --model M --port P --host H <args>`. Ready when /health answers and /v1/models lists a model;
// load from /metrics.
import { vllmLoad } from './load.js';
import type { BackendOf, EnginePreset } from './types.js';

export const vllmPreset: EnginePreset<BackendOf<'vllm'>> = {
  type: 'vllm',
  launch: (b, ctx) => ({
    command: b.python,
    args: ['-m', 'vllm.entrypoints.openai.api_server', '--model', b.model, '--port', String(ctx.port), '--host', ctx.host, ...b.args],
    cwd: b.work_dir,
    env: { ...b.env },
  }),
  healthPath: '/health',
  modelsPaths: ['/v1/models'],
  readLoad: vllmLoad,
  metadata: () => ({}),
  portable: () => true,
};
