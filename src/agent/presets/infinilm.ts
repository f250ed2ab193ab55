// type = "infinilm": InfiniLM's Python server as the Python babysitter launched it,
// `python3 <launch_script> --port P --host H --model-path M <args>` from work_dir (the Rust
// babysitter's version ignored the model path and args; we do what it meant).
import type { BackendOf, EnginePreset } from './types.js';

export const infinilmPreset: EnginePreset<BackendOf<'infinilm'>> = {
  type: 'infinilm',
  launch: (b, ctx) => ({
    command: b.python,
    args: [b.launch_script, '--port', String(ctx.port), '--host', ctx.host, '--model-path', b.model_path, ...b.args],
    cwd: b.work_dir,
    env: { ...b.env },
  }),
  healthPath: undefined,
  modelsPaths: ['/models', '/v1/models'],
  readLoad: undefined,
  metadata: () => ({}),
  portable: () => true,
};
