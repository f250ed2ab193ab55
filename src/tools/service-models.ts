// The input of `switchboard render-config`: InfiniLM-SVC's deployment JSON,
// {"models": [{name, path, gpus, max_tokens, temperature, top_p, repetition_penalty,
// top_k?, think?, max_sessions?, gpu_memory_utilization?}], ...anything else}.
// The original read these keys without checking them (a missing `path` was a KeyError, a
// string temperature was printed as is); here a wrong entry stops the run, naming the field.
import { z } from 'zod';
import { sbError } from '../core/index.js';
import { expected, integer, parseInput, pyNumber } from './input-schema.js';

const modelSchema = z.looseObject({
  name: z.string(expected('a string')).min(1, { error: 'expected a non-empty string' }),
  path: z.string(expected('a string')).min(1, { error: 'expected a non-empty string' }),
  gpus: z.array(integer(0, 'a GPU index (an integer >= 0)'), expected('a list of integers')),
  max_tokens: integer(1, 'an integer >= 1'),
  temperature: pyNumber(),
  top_p: pyNumber(),
  repetition_penalty: pyNumber(),
  // Optional keys: the original tested presence (`'top_k' in model`), so `null` printed
  // `top-k = None`; here an optional key is either absent or of its type.
  top_k: integer(0, 'an integer >= 0').optional(),
  think: z.boolean(expected('true or false')).optional(),
  max_sessions: integer(1, 'an integer >= 1').optional(),
  gpu_memory_utilization: pyNumber().optional(),
});

const inputSchema = z.looseObject({
  models: z.array(modelSchema, expected('a list of models')).optional(),
});

export type ServiceModel = z.infer<typeof modelSchema>;

/**
 * Checks a deployment config's `models` (when present; other top-level keys are free-form
 * template variables). `requireModels`: the built-in template renders nothing else, so there
 * an absent list is an error rather than an empty file.
 */
export function validateDeploymentConfig(context: Record<string, unknown>, requireModels: boolean): void {
  parseInput(inputSchema, context);
  if (requireModels && context.models === undefined) {
    throw sbError('SB_ERR_INPUT_INVALID', 'models', 'missing (expected a list of models; the built-in template renders only models)');
  }
}

/** `--test`: the original's built-in sample (one small model on GPU 0). */
export function testModelsConfig(): Record<string, unknown> {
  return {
    models: [
      {
        name: 'test-model',
        path: '/tmp/test-model.gguf',
        gpus: [0],
        max_tokens: 1024,
        temperature: 0.7,
        top_p: 0.9,
        repetition_penalty: 1.02,
        max_sessions: 1,
      },
    ],
  };
}
