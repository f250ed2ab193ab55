// The preset for a [backend] table, bound to it: callers never switch on the type themselves.
import type { BackendConfig } from '../config.js';
import { commandPreset } from './command.js';
import { infinilmRustPreset } from './infinilm-rust.js';
import { infinilmPreset } from './infinilm.js';
import { llamaCppPreset } from './llama-cpp.js';
import { mockPreset } from './mock.js';
import { simPreset } from './sim.js';
import { tgiPreset } from './tgi.js';
import type { EnginePreset, LaunchContext, LaunchSpec, LoadReader } from './types.js';
import { vllmPreset } from './vllm.js';

export type { EngineLoad, LaunchContext, LaunchSpec, LoadReader } from './types.js';

/** A preset with its backend table applied. */
export interface BoundPreset {
  readonly backend: BackendConfig;
  launch(ctx: LaunchContext): LaunchSpec;
  readonly healthPath: string | undefined;
  readonly modelsPaths: readonly string[];
  readonly readLoad: LoadReader | undefined;
  readonly metadata: Record<string, unknown>;
  readonly portable: boolean;
}

function bind<B extends BackendConfig>(p: EnginePreset<B>, b: B): BoundPreset {
  return {
    backend: b,
    launch: (ctx) => p.launch(b, ctx),
    healthPath: p.healthPath,
    modelsPaths: p.modelsPaths,
    readLoad: p.readLoad,
    metadata: p.metadata(b),
    portable: p.portable(b),
  };
}

export function presetFor(b: BackendConfig): BoundPreset {
  switch (b.type) {
    case 'command':
      return bind(commandPreset, b);
    case 'vllm':
      return bind(vllmPreset, b);
    case 'mock':
      return bind(mockPreset, b);
    case 'infinilm-rust':
      return bind(infinilmRustPreset, b);
    case 'infinilm':
      return bind(infinilmPreset, b);
    case 'sim':
      return bind(simPreset, b);
    case 'llama.cpp':
      return bind(llamaCppPreset, b);
    case 'tgi':
      return bind(tgiPreset, b);
  }
}
