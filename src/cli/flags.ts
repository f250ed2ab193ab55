// Flag values to config values: strings from parseArgs become numbers, durations and lists,
// with an SB_ERR_USAGE naming the flag when one is malformed. Unset flags stay undefined so a
// lower layer (config file, environment) shows through.
import { definedOnly, parseDuration, readConfigFile, sbError, type ConfigLayer } from '../core/index.js';
import type { OptionValues } from './command.js';

function text(values: OptionValues, flag: string): string | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.at(-1);
  if (typeof v === 'boolean') return undefined;
  return v;
}

export function stringFlag(values: OptionValues, flag: string): string | undefined {
  return text(values, flag);
}

export function boolFlag(values: OptionValues, flag: string): boolean | undefined {
  const v = values[flag];
  return typeof v === 'boolean' ? v : undefined;
}

export function intFlag(values: OptionValues, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = text(values, flag);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) throw sbError('SB_ERR_USAGE', `--${flag}: expected an integer from ${min} to ${max}, got '${v}'`);
  return n;
}

export function numberFlag(values: OptionValues, flag: string, min = 0, max = Number.MAX_VALUE): number | undefined {
  const v = text(values, flag);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw sbError('SB_ERR_USAGE', `--${flag}: expected a number from ${min} to ${max}, got '${v}'`);
  return n;
}

/** A duration flag in milliseconds: "30" means 30 of bareUnit (InfiniLM's flags are seconds), or "250ms", "5m". */
export function durationFlag(values: OptionValues, flag: string, bareUnit: 'ms' | 's' = 's'): number | undefined {
  const v = text(values, flag);
  if (v === undefined) return undefined;
  const ms = parseDuration(v, bareUnit);
  if (ms === undefined || ms <= 0) throw sbError('SB_ERR_USAGE', `--${flag}: expected a positive duration such as 30 (${bareUnit === 's' ? 'seconds' : 'milliseconds'}), 500ms or 5m, got '${v}'`);
  return Math.round(ms);
}

export function listFlag(values: OptionValues, flag: string): string[] | undefined {
  const v = values[flag];
  if (v === undefined || typeof v === 'boolean') return undefined;
  const all = Array.isArray(v) ? v : [v];
  return all.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** The config-file layer (when --config is given) plus the flags layer, in merge order. */
export function fileAndFlagLayers(configFile: string | undefined, flags: Record<string, unknown>, env: Record<string, unknown> = {}): ConfigLayer[] {
  const layers: ConfigLayer[] = [];
  if (configFile) layers.push({ source: `config file ${configFile}`, values: readConfigFile(configFile) });
  const e = definedOnly(env);
  if (Object.keys(e).length > 0) layers.push({ source: 'environment', values: e });
  layers.push({ source: 'flags', values: definedOnly(flags) });
  return layers;
}
