// type = "sim": `switchboard sim` itself, run with this Node binary and this package's launcher,
// so a node (or a test, or `switchboard up`) has real engine processes without a GPU.
import process from 'node:process';
import { join } from 'node:path';
import { NODE_FLAGS, packageRoot } from '../../core/index.js';
import { vllmLoad } from './load.js';
import type { BackendOf, EnginePreset, LaunchContext, LaunchSpec } from './types.js';

/** The command line of `switchboard sim` serving these models. */
export function simLaunch(models: readonly string[], kind: string | undefined, extra: readonly string[], env: Record<string, string>, ctx: LaunchContext): LaunchSpec {
  const args = [...NODE_FLAGS, join(packageRoot(), 'bin', 'switchboard.js'), 'sim', '--host', ctx.host, '--port', String(ctx.port), '--models', models.join(',')];
  if (kind) args.push('--kind', kind);
  // a sim is ours: it stops by itself if its agent is killed outright (SIGKILL leaves no drain)
  return { command: process.execPath, args: [...args, ...extra], env: { SWITCHBOARD_EXIT_WITH_PARENT: '1', ...env } };
}

export const simPreset: EnginePreset<BackendOf<'sim'>> = {
  type: 'sim',
  launch: (b, ctx) => simLaunch(b.models, b.kind, b.args, b.env, ctx),
  healthPath: '/health',
  modelsPaths: ['/v1/models'],
  readLoad: vllmLoad,
  // an embeddings or rerank engine is routed only for those endpoints
  metadata: (b) => (b.kind === 'embeddings' || b.kind === 'rerank' ? { type: b.kind } : {}),
  portable: () => true,
};
