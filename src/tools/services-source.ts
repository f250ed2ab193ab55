// Where `switchboard nginx-config` gets its backends: InfiniLM-SVC's JSON file
// ({"services": [{name?, host, port, weight?, max_fails?, fail_timeout?, backup?}]}), its
// `--services name:host:port[:weight],...` flag, and (new) a running registry. Every entry is
// checked here, so the generator only ever sees values nginx accepts: the original passed
// anything through and left nginx to fail on it (a weight of 0, a port of "abc").
import { z } from 'zod';
import { describeError, requestJson, sbError, sbErrorFrom } from '../core/index.js';
import { expected, integer, parseInput } from './input-schema.js';
import { asObject, readPyJsonFile } from './py-json.js';

export interface ServiceEndpoint {
  name: string;
  host: string;
  port: number;
  weight: number;
  maxFails: number;
  /** nginx time ("30s", "1m") or a number of seconds, kept as written (it is echoed in /services). */
  failTimeout: string | number;
  backup: boolean;
}

/** The original's defaults; a server line carries only the attributes that differ. */
export const ENDPOINT_DEFAULTS = { weight: 1, maxFails: 3, failTimeout: '30s', backup: false } as const;

// A DNS name or IPv4 address, or an IPv6 address (bracketed or not).
export const HOST_PATTERN = /^(?:[A-Za-z0-9_.-]+|\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?)$/;
// nginx time syntax: "30s", "1m30s", "500ms", or a bare number of seconds.
const NGINX_TIME = /^(?:\d+(?:ms|s|m|h|d|w|M|y)?)+$/;

const host = z.string(expected('a host name or IP address')).regex(HOST_PATTERN, { error: 'expected a host name or IP address' });
const port = integer(1, 'a port number (1-65535)').max(65535, { error: 'expected a port number (1-65535)' });
const weight = integer(1, 'an integer >= 1');
const maxFails = integer(0, 'an integer >= 0');
const failTimeout = z.custom<string | number>(
  (v) => (typeof v === 'string' && NGINX_TIME.test(v)) || (Number.isSafeInteger(v) && (v as number) >= 0),
  expected('an nginx time such as "30s", or seconds'),
);

const fileEntry = z.looseObject({
  name: z.string(expected('a string')).min(1, { error: 'expected a non-empty string' }).optional(),
  host,
  port,
  weight: weight.optional(),
  max_fails: maxFails.optional(),
  fail_timeout: failTimeout.optional(),
  backup: z.boolean(expected('true or false')).optional(),
});
const fileSchema = z.looseObject({ services: z.array(fileEntry, expected('a list of services')).optional() });

/** Reads a services JSON file. An entry without a name is `service_<n>` (1-based), as before. */
export function servicesFromFile(path: string): ServiceEndpoint[] {
  const doc = parseInput(fileSchema, asObject(readPyJsonFile(path, 'Configuration file'), path), path);
  return (doc.services ?? []).map((s, i) => ({
    name: s.name ?? `service_${i + 1}`,
    host: s.host,
    port: s.port,
    weight: s.weight ?? ENDPOINT_DEFAULTS.weight,
    maxFails: s.max_fails ?? ENDPOINT_DEFAULTS.maxFails,
    failTimeout: s.fail_timeout ?? ENDPOINT_DEFAULTS.failTimeout,
    backup: s.backup ?? ENDPOINT_DEFAULTS.backup,
  }));
}

const specEntry = z.object({ host, port, weight });

/** Parses `--services "name:host:port[:weight],..."`; a bad entry is named in the error. */
export function servicesFromSpec(spec: string): ServiceEndpoint[] {
  return spec.split(',').map((raw) => {
    const entry = raw.trim();
    const where = `--services entry '${entry}'`;
    const parts = entry.split(':');
    if (parts.length < 3 || parts.length > 4) throw sbError('SB_ERR_INPUT_INVALID', where, 'expected name:host:port[:weight]');
    const [name = '', hostText = '', portText = '', weightText = '1'] = parts;
    if (name === '') throw sbError('SB_ERR_INPUT_INVALID', where, 'the name is empty (expected name:host:port[:weight])');
    for (const [what, text] of [['port', portText], ['weight', weightText]] as const) {
      if (!/^\d+$/.test(text)) throw sbError('SB_ERR_INPUT_INVALID', where, `${what} '${text}' is not a number`);
    }
    const s = parseInput(specEntry, { host: hostText, port: Number(portText), weight: Number(weightText) }, where);
    return { name, ...s, maxFails: ENDPOINT_DEFAULTS.maxFails, failTimeout: ENDPOINT_DEFAULTS.failTimeout, backup: false };
  });
}

const registryRecord = z.looseObject({
  name: z.string(expected('a string')).min(1),
  host,
  port,
  metadata: z.looseObject({ weight: weight.optional(), max_fails: maxFails.optional(), fail_timeout: failTimeout.optional() }),
});

export interface RegistrySourceOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The healthy `openai-api` services of a running registry (`GET <url>/services?healthy=true`,
 * the router's own query), sorted by name so that regenerating the config for an unchanged
 * fleet gives the same file (a registry may list services in any order). Per-service
 * `metadata.weight`, `max_fails` and `fail_timeout` (seconds) become server attributes.
 */
export async function servicesFromRegistry(baseUrl: string, opts: RegistrySourceOptions = {}): Promise<ServiceEndpoint[]> {
  const url = `${baseUrl.replace(/\/+$/, '')}/services?healthy=true`;
  let res;
  try {
    res = await requestJson<unknown>(url, { timeoutMs: opts.timeoutMs ?? 10_000, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_REGISTRY_UNREACHABLE', baseUrl, describeError(err));
  }
  if (res.status !== 200) throw sbError('SB_ERR_REGISTRY_REJECTED', baseUrl, res.status, res.text.slice(0, 200));
  const list = (res.body as { services?: unknown } | undefined)?.services;
  if (!Array.isArray(list)) throw sbError('SB_ERR_INPUT_INVALID', `registry ${url}`, 'expected a JSON object with a "services" list');
  const out: ServiceEndpoint[] = [];
  for (const rec of list as unknown[]) {
    const meta = (rec as { metadata?: { type?: unknown } } | null)?.metadata;
    if (meta?.type !== 'openai-api') continue;
    const name = (rec as { name?: unknown }).name;
    const s = parseInput(registryRecord, rec, `registry service '${typeof name === 'string' ? name : '?'}'`);
    out.push({
      name: s.name,
      host: s.host,
      port: s.port,
      weight: s.metadata.weight ?? ENDPOINT_DEFAULTS.weight,
      maxFails: s.metadata.max_fails ?? ENDPOINT_DEFAULTS.maxFails,
      failTimeout: s.metadata.fail_timeout ?? ENDPOINT_DEFAULTS.failTimeout,
      backup: false,
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
