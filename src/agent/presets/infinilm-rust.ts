// type = "infinilm-rust": `xtask service <config_file> -p <port>` (both originals), with
// ~/.cargo/bin ahead on PATH as the Python babysitter did. No health endpoint or metrics: ready
// once it lists models (/v1/models, then /models).
import process from 'node:process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { BackendOf, EnginePreset } from './types.js';

export const infinilmRustPreset: EnginePreset<BackendOf<'infinilm-rust'>> = {
  type: 'infinilm-rust',
  launch: (b, ctx) => ({
    command: b.xtask,
    args: ['service', b.config_file, '-p', String(ctx.port)],
    cwd: b.work_dir,
    env: { PATH: `${join(homedir(), '.cargo', 'bin')}:${process.env.PATH ?? ''}`, ...b.env },
  }),
  healthPath: undefined,
  modelsPaths: ['/v1/models', '/models'],
  readLoad: undefined,
  metadata: () => ({}),
  portable: () => true,
};
