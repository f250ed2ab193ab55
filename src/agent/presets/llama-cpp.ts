// type = "llama.cpp": llama-server, `llama-server --model M --host H --port P [--alias A] <args>`.
// /health answers 503 "Loading model" until the weights are in; load from GET /slots.
import { llamaSlotsLoad } from './load.js';
import type { BackendOf, EnginePreset } from './types.js';

export const llamaCppPreset: EnginePreset<BackendOf<'llama.cpp'>> = {
  type: 'llama.cpp',
  launch: (b, ctx) => ({
    command: b.binary,
    args: ['--model', b.model, '--host', ctx.host, '--port', String(ctx.port), ...(b.alias ? ['--alias', b.alias] : []), ...b.args],
    cwd: b.work_dir,
    env: { ...b.env },
  }),
  healthPath: '/health',
  modelsPaths: ['/v1/models'],
  readLoad: llamaSlotsLoad,
  metadata: () => ({}),
  portable: () => true,
};
