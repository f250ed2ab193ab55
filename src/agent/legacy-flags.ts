// The original babysitters' command-line backends, turned into a [backend] table: the Python
// `enhanced_babysitter.py` (`--service-type InfiniLM|InfiniLM-Rust --path ...` plus the InfiniLM
// server flags) and the Rust `infini-babysitter` (`--service-type command --command ... --args
// "..."`). Launch scripts written for either keep working with `switchboard agent`.
import { sbError } from '../core/index.js';
import type { BackendType } from './config.js';

export interface LegacyBackendFlags {
  serviceType?: string | undefined;
  path?: string | undefined;
  command?: string | undefined;
  /** Rust `--args`: one space-separated string. */
  args?: string | undefined;
  workDir?: string | undefined;
  /** Rust `--env KEY=VALUE` (repeatable). */
  env?: readonly string[] | undefined;
  /** Ours: models for sim and mock backends. */
  models?: readonly string[] | undefined;
  // Python InfiniLM server flags
  dev?: string | undefined;
  ndev?: string | undefined;
  maxBatch?: string | undefined;
  maxTokens?: string | undefined;
  awq?: boolean | undefined;
  requestTimeout?: string | undefined;
  maxConcurrency?: string | undefined;
  launchScript?: string | undefined;
}

const TYPE_NAMES: Record<string, BackendType> = {
  command: 'command',
  vllm: 'vllm',
  mock: 'mock',
  'infinilm-rust': 'infinilm-rust',
  infinilm: 'infinilm',
  sim: 'sim',
  'llama.cpp': 'llama.cpp',
  'llama-cpp': 'llama.cpp',
  llamacpp: 'llama.cpp',
  'llama-server': 'llama.cpp',
  tgi: 'tgi',
};

/** `--service-type` in any of the spellings the originals used ("vLLM", "InfiniLM-Rust", ...). */
export function parseServiceType(text: string): BackendType {
  const t = TYPE_NAMES[text.trim().toLowerCase()];
  if (!t) throw sbError('SB_ERR_USAGE', `--service-type: expected one of command, vLLM, mock, InfiniLM-Rust, InfiniLM, sim, llama.cpp, tgi; got '${text}'`);
  return t;
}

function splitWords(s: string | undefined): string[] {
  return s === undefined ? [] : s.split(/\s+/).filter(Boolean);
}

function parseEnv(entries: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries ?? []) {
    for (const pair of splitWords(e)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw sbError('SB_ERR_USAGE', `--env: expected KEY=VALUE, got '${pair}'`);
      out[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return out;
}

function need(value: string | undefined, flag: string, type: string, what: string): string {
  if (!value) throw sbError('SB_ERR_USAGE', `${flag} is required for --service-type ${type} (${what})`);
  return value;
}

/** True when any flag that describes a backend was given. */
export function hasBackendFlags(f: LegacyBackendFlags): boolean {
  return [f.serviceType, f.path, f.command, f.args, f.workDir, f.models, f.dev, f.ndev, f.maxBatch, f.maxTokens, f.requestTimeout, f.maxConcurrency, f.launchScript].some((v) => v !== undefined) || f.awq === true || (f.env?.length ?? 0) > 0;
}

/**
 * The [backend] table the flags describe. Without --service-type: `command` when --command is
 * given (Rust), `InfiniLM` when only --path is (Python's default), `sim` when only --models is.
 */
export function backendFromFlags(f: LegacyBackendFlags): Record<string, unknown> {
  const type: BackendType = f.serviceType !== undefined ? parseServiceType(f.serviceType) : f.command ? 'command' : f.path ? 'infinilm' : f.models ? 'sim' : 'command';
  const env = parseEnv(f.env);
  const workDir = f.workDir === undefined ? {} : { work_dir: f.workDir };
  switch (type) {
    case 'command':
      return { type, command: need(f.command, '--command', 'command', 'the program to run'), args: splitWords(f.args), ...workDir, env };
    case 'vllm':
      return { type, model: need(f.path, '--path', 'vLLM', 'the model'), args: splitWords(f.args), ...workDir, env };
    case 'mock':
      // Rust: --args carries the model list, "test-model" by default
      return { type, models: f.models ?? (f.args ? f.args.split(',').map((s) => s.trim()).filter(Boolean) : ['test-model']), env };
    case 'infinilm-rust':
      return { type, config_file: need(f.path, '--path', 'InfiniLM-Rust', 'the InfiniLM-Rust service config file'), ...workDir, env };
    case 'infinilm': {
      // Python: --dev nvidia --ndev 1 --max-batch 3 --request-timeout 300, then the optional ones
      const a = ['--dev', f.dev ?? 'nvidia', '--ndev', f.ndev ?? '1', '--max-batch', f.maxBatch ?? '3', '--request-timeout', f.requestTimeout ?? '300'];
      if (f.maxTokens !== undefined) a.push('--max-tokens', f.maxTokens);
      if (f.awq) a.push('--awq');
      if (f.maxConcurrency !== undefined) a.push('--max-concurrency', f.maxConcurrency);
      a.push(...splitWords(f.args));
      return { type, model_path: need(f.path, '--path', 'InfiniLM', 'the model path'), args: a, ...workDir, env, ...(f.launchScript ? { launch_script: f.launchScript } : {}) };
    }
    case 'sim':
      return { type, ...(f.models ? { models: [...f.models] } : {}), args: splitWords(f.args), env };
    case 'llama.cpp':
      return { type, model: need(f.path, '--path', 'llama.cpp', 'the GGUF model file'), args: splitWords(f.args), ...workDir, env };
    case 'tgi':
      return { type, model: need(f.path, '--path', 'tgi', 'the model id'), args: splitWords(f.args), ...workDir, env };
  }
}
