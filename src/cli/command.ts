// The shape of a CLI command and the argument parsing shared by all of them (node:util
// parseArgs, strict: an unknown or malformed flag is an error naming the flag).
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { closestKey, sbError } from '../core/index.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  /** Shown in help as the value's name: `--port <port>`. */
  valueName?: string;
  /** Shown in help; the schema holds the real default. */
  defaultText?: string;
  multiple?: boolean;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  values: OptionValues;
  positionals: string[];
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long-running commands close and return when it fires. */
  signal: AbortSignal;
}

export interface CommandSpec {
  /** Positional arguments for the usage line, e.g. "[fleet.yaml]". */
  args?: string;
  description?: string;
  options: Record<string, OptionSpec>;
  /** Subcommands shown in help (the command parses them itself from positionals). */
  subcommands?: Record<string, string>;
  examples?: string[];
  run(ctx: CommandContext): Promise<number>;
}

export function parseCommandArgs(spec: CommandSpec, argv: string[]): { values: OptionValues; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    if (!spec.args && !spec.subcommands && positionals.length > 0) {
      throw sbError('SB_ERR_USAGE', `unexpected argument '${positionals[0]}'`);
    }
    return { values: values as OptionValues, positionals };
  } catch (err) {
    const msg = (err as Error).message;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(msg);
    if (unknown) {
      const hint = closestKey(unknown[1]!.replace(/^-+/, ''), Object.keys(spec.options));
      throw sbError('SB_ERR_USAGE', `unknown option '${unknown[1]}'${hint ? ` (did you mean '--${hint}'?)` : ''}`);
    }
    if ((err as { code?: string }).code === 'SB_ERR_USAGE') throw err;
    throw sbError('SB_ERR_USAGE', msg.replace(/\. To specify.*$/s, ''));
  }
}

export function formatHelp(name: string, summary: string, spec: CommandSpec): string {
  const lines = [`Usage: switchboard ${name}${spec.subcommands ? ' <subcommand>' : ''}${spec.args ? ` ${spec.args}` : ''} [options]`, '', summary];
  if (spec.description) lines.push('', spec.description);
  if (spec.subcommands) {
    lines.push('', 'Subcommands:');
    const w = Math.max(...Object.keys(spec.subcommands).map((s) => s.length));
    for (const [s, d] of Object.entries(spec.subcommands)) lines.push(`  ${s.padEnd(w)}  ${d}`);
  }
  const opts = Object.entries(spec.options).map(([n, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${n}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`;
    return [flag, `${o.description}${o.defaultText ? ` (default: ${o.defaultText})` : ''}`] as const;
  });
  opts.push(['-h, --help', 'Show this help']);
  const w = Math.max(...opts.map(([f]) => f.length));
  lines.push('', 'Options:', ...opts.map(([f, d]) => `  ${f.padEnd(w)}  ${d}`));
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

/** Resolves when the signal aborts (for commands that run until SIGINT/SIGTERM). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
