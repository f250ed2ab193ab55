// One schema per process, parsed once at the edge and frozen (STYLE "Config"). Values come in
// layers (defaults in the schema < config file < environment < flags); a layer is a partial
// object tagged with where it came from, so an error names the file or the flag.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { sbError, sbErrorFrom } from './errors.js';

export interface ConfigLayer {
  /** "defaults", "config file /etc/x.yaml", "flags", "environment", ... */
  readonly source: string;
  readonly values: Record<string, unknown>;
}

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends Map<infer K, infer V>
    ? ReadonlyMap<K, DeepReadonly<V>>
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value as DeepReadonly<T>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Later layers win; objects merge key by key, arrays and scalars replace. */
export function mergeLayers(layers: readonly ConfigLayer[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const mergeInto = (target: Record<string, unknown>, src: Record<string, unknown>): Record<string, unknown> => {
    for (const [k, v] of Object.entries(src)) {
      if (v === undefined) continue;
      const cur = target[k];
      if (isPlainObject(v)) target[k] = mergeInto(isPlainObject(cur) ? cur : {}, v);
      else target[k] = v;
    }
    return target;
  };
  for (const layer of layers) mergeInto(out, layer.values);
  return out;
}

function sourceOf(layers: readonly ConfigLayer[], path: readonly PropertyKey[]): string {
  // a missing key belongs to the layer that holds its parent table (a file's [backend])
  for (let n = path.length; n > 0; n--) {
    const found = layerHolding(layers, path.slice(0, n));
    if (found) return found;
  }
  // a required key nobody gave: the config file is where it was expected
  return layers.find((l) => l.source.startsWith('config file'))?.source ?? layers.at(-1)?.source ?? 'configuration';
}

function layerHolding(layers: readonly ConfigLayer[], path: readonly PropertyKey[]): string | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    let cur: unknown = layers[i]!.values;
    let found = true;
    for (const k of path) {
      if (!isPlainObject(cur) || !(String(k) in cur)) {
        found = false;
        break;
      }
      cur = cur[String(k)];
    }
    if (found) return layers[i]!.source;
  }
  return undefined;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** The closest known key, when one is close enough to be a likely typo. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const k = key.toLowerCase().replace(/[-_]/g, '');
  for (const cand of known) {
    const d = levenshtein(k, cand.toLowerCase().replace(/[-_]/g, ''));
    if (d < bestD) {
      bestD = d;
      best = cand;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let cur: unknown = schema;
  for (const k of [...path, null]) {
    // unwrap optional/default/pipe wrappers to reach an object's shape
    for (let i = 0; i < 8; i++) {
      const d = (cur as { _zod?: { def?: { innerType?: unknown; in?: unknown } } })._zod?.def;
      if (d?.innerType) cur = d.innerType;
      else if (d?.in) cur = d.in;
      else break;
    }
    // an array: the next path element is an index into it (`engines.0.modle`)
    const element = (cur as { _zod?: { def?: { element?: unknown } } })._zod?.def?.element;
    if (element && typeof k === 'number') {
      cur = element;
      continue;
    }
    // a (discriminated) union of objects: the keys of all its options
    const options = (cur as { _zod?: { def?: { options?: unknown[] } } })._zod?.def?.options;
    const shape = (cur as { shape?: Record<string, unknown> }).shape ?? (options ? (Object.assign({}, ...options.map((o) => (o as { shape?: object }).shape ?? {})) as Record<string, unknown>) : undefined);
    if (!shape) return [];
    if (k === null) return Object.keys(shape);
    cur = shape[String(k)];
  }
  return [];
}

/** Formats zod issues as one line per problem, naming the key, the source and a hint. */
export function describeIssues(schema: z.ZodType, error: z.ZodError, layers: readonly ConfigLayer[]): string {
  return error.issues
    .map((issue) => {
      const at = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys
          .map((key) => {
            const where = sourceOf(layers, [...issue.path, key]);
            const hint = closestKey(key, knownKeysAt(schema, issue.path));
            return `${where}: unknown key '${at ? `${at}.` : ''}${key}'${hint ? ` (did you mean '${hint}'?)` : ''}`;
          })
          .join('; ');
      }
      return `${sourceOf(layers, issue.path)}: '${at || '(root)'}' ${issue.message}`;
    })
    .join('; ');
}

/**
 * Validates merged layers against a process's schema and freezes the result. Throws
 * SB_ERR_CONFIG_INVALID naming every bad key and where it came from.
 */
export function parseConfig<S extends z.ZodType>(schema: S, layers: readonly ConfigLayer[]): DeepReadonly<z.output<S>> {
  const result = schema.safeParse(mergeLayers(layers));
  if (!result.success) {
    const sources = [...new Set(layers.map((l) => l.source))].join(', ');
    throw sbError('SB_ERR_CONFIG_INVALID', sources, describeIssues(schema, result.error, layers));
  }
  return deepFreeze(result.data);
}

/** Reads a JSON, YAML or TOML file into a plain object (by extension; JSON otherwise). */
/** A config file's text; SB_ERR_CONFIG_FILE names the file when it cannot be read. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_CONFIG_FILE', file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err));
  }
}

export function readConfigFile(file: string): Record<string, unknown> {
  const text = readConfigText(file);
  let value: unknown;
  try {
    const ext = extname(file).toLowerCase();
    value = ext === '.yaml' || ext === '.yml' ? parseYaml(text) : ext === '.toml' ? parseToml(text) : JSON.parse(text);
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_CONFIG_FILE', file, `not valid ${extname(file).slice(1) || 'JSON'}: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) throw sbError('SB_ERR_CONFIG_FILE', file, 'the top level must be an object');
  return value;
}

/** Drops undefined entries so an unset flag does not hide a value from a lower layer. */
export function definedOnly(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v;
  return out;
}
