// InfiniLM-SVC's static services file, in every shape its routers read: a bare array,
// `{"services": [...]}` or `{"static_services": {"services": [...]}}` (router_config.json). Entry
// fields: name (default service_<n>), host, port, weight (1), metadata ({}), and url (ours,
// optional: default http://host:port). A malformed entry is refused at start, naming it.
import { readConfigText, sbError, sbErrorFrom } from '../core/index.js';
import type { BackendSpec } from './backend.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseStaticServices(value: unknown, source: string): BackendSpec[] {
  let list: unknown = value;
  if (isObject(value)) {
    if (Array.isArray(value.services)) list = value.services;
    else if (isObject(value.static_services) && Array.isArray(value.static_services.services)) list = value.static_services.services;
  }
  if (!Array.isArray(list)) throw sbError('SB_ERR_CONFIG_INVALID', source, 'expected an array of services, {"services": [...]} or {"static_services": {"services": [...]}}');
  return list.map((e: unknown, i): BackendSpec => {
    const where = `services[${i}]`;
    if (!isObject(e)) throw sbError('SB_ERR_CONFIG_INVALID', source, `${where}: expected an object`);
    const name = e.name ?? `service_${i}`;
    if (typeof name !== 'string' || name === '') throw sbError('SB_ERR_CONFIG_INVALID', source, `${where}.name: expected a string`);
    const host = e.host ?? '127.0.0.1';
    if (typeof host !== 'string') throw sbError('SB_ERR_CONFIG_INVALID', source, `${where}.host: expected a string`);
    const port = e.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw sbError('SB_ERR_CONFIG_INVALID', source, `${where}.port: expected an integer from 1 to 65535`);
    const weight = e.weight ?? 1;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1) throw sbError('SB_ERR_CONFIG_INVALID', source, `${where}.weight: expected an integer >= 1`);
    const metadata = e.metadata ?? {};
    if (!isObject(metadata)) throw sbError('SB_ERR_CONFIG_INVALID', source, `${where}.metadata: expected an object`);
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    const url = e.url ?? `http://${h}:${port}`;
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw sbError('SB_ERR_CONFIG_INVALID', source, `${where}.url: expected an http(s) URL`);
    return { name, host, port, url, status: 'running', healthy: true, metadata, weight, static: true };
  });
}

export function loadStaticServices(file: string): BackendSpec[] {
  const text = readConfigText(file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_CONFIG_FILE', file, `not valid JSON: ${(err as Error).message}`);
  }
  return parseStaticServices(value, `static services file ${file}`);
}
