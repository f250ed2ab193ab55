// type = "mock": the Rust babysitter ran the Python `mock_service.py` of its integration tests.
// We run the simulated engine with the same models instead: it serves the same paths
// (/v1/chat/completions, /v1/models, /health) and needs no Python or script on disk.
import { vllmLoad } from './load.js';
import { simLaunch } from './sim.js';
import type { BackendOf, EnginePreset } from './types.js';

export const mockPreset: EnginePreset<BackendOf<'mock'>> = {
  type: 'mock',
  launch: (b, ctx) => simLaunch(b.models, undefined, ['--decode-ms', '10'], b.env, ctx),
  healthPath: '/health',
  modelsPaths: ['/v1/models'],
  readLoad: vllmLoad,
  metadata: () => ({}),
  portable: () => true,
};
