// type = "command": any program (the universal backend of the Rust babysitter, used by every
// InfiniLM deployment). `command` is split on whitespace, then `args` follow as given (the
// original re-split args on spaces, which broke an argument containing one; we do not). The
// program must be told its port in its own args, as in the original; `{port}`, `{host}` and
// `{name}` in command or args are replaced (ours), which also lets it run as several replicas.
import { vllmLoad } from './load.js';
import type { BackendOf, EnginePreset, LaunchContext } from './types.js';

type Command = BackendOf<'command'>;

function fill(s: string, ctx: LaunchContext): string {
  return s.replaceAll('{port}', String(ctx.port)).replaceAll('{host}', ctx.host).replaceAll('{name}', ctx.name);
}

export const commandPreset: EnginePreset<Command> = {
  type: 'command',
  launch(b, ctx) {
    const [program, ...rest] = b.command.split(/\s+/).filter(Boolean);
    return { command: fill(program ?? b.command, ctx), args: [...rest, ...b.args].map((a) => fill(a, ctx)), cwd: b.work_dir, env: { ...b.env } };
  },
  healthPath: undefined,
  modelsPaths: ['/v1/models', '/models'],
  // most command backends are vLLM or vLLM-shaped; an engine without vLLM metrics has no load
  readLoad: vllmLoad,
  metadata: () => ({}),
  portable: (b) => b.command.includes('{port}') || b.args.some((a) => a.includes('{port}')),
};
