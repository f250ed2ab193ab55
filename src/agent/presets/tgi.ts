// type = "tgi": Hugging Face text-generation-inference, `text-generation-launcher --model-id M
// --hostname H --port P <args>`. /health, /v1/models (TGI >= 2.3) and its Prometheus gauges
// (tgi_batch_current_size running, tgi_queue_size waiting).
import { tgiLoad } from './load.js';
import type { BackendOf, EnginePreset } from './types.js';

export const tgiPreset: EnginePreset<BackendOf<'tgi'>> = {
  type: 'tgi',
  launch: (b, ctx) => ({
    command: b.binary,
    args: ['--model-id', b.model, '--hostname', ctx.host, '--port', String(ctx.port), ...b.args],
    cwd: b.work_dir,
    env: { ...b.env },
  }),
  healthPath: '/health',
  modelsPaths: ['/v1/models'],
  readLoad: tgiLoad,
  metadata: () => ({}),
  portable: () => true,
};
