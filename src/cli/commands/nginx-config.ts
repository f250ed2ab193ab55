// `switchboard nginx-config`: InfiniLM-SVC's generate_nginx_config.py (same flags, same file
// shape, `Error: ...` and exit 1 on bad input), plus --registry-url to take the backends from a
// running registry, and streaming-friendly proxying by default. Malformed flag values exit 2,
// as argparse did.
import { resolve } from 'node:path';
import { isSwitchboardError, sbError } from '../../core/index.js';
import { writeFileAtomic } from '../../tools/atomic-write.js';
import { generateNginxConfig, LOAD_BALANCING, NGINX_DEFAULTS, type LoadBalancing, type NginxConfigOptions } from '../../tools/nginx-config.js';
import { servicesFromFile, servicesFromRegistry, servicesFromSpec, type ServiceEndpoint } from '../../tools/services-source.js';
import type { CommandSpec, OptionValues } from '../command.js';

function str(values: OptionValues, flag: string): string | undefined {
  const v = values[flag];
  return typeof v === 'string' ? v : undefined;
}

function int(values: OptionValues, flag: string, fallback: number, min: number, max: number): number {
  const v = str(values, flag);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw sbError('SB_ERR_USAGE', `--${flag}: expected an integer from ${min} to ${max}, got '${v}'`);
  return n;
}

function loadBalancing(values: OptionValues): LoadBalancing {
  const v = str(values, 'load-balancing') ?? NGINX_DEFAULTS.loadBalancing;
  if (!(LOAD_BALANCING as readonly string[]).includes(v)) throw sbError('SB_ERR_USAGE', `--load-balancing: expected one of ${LOAD_BALANCING.join(', ')}, got '${v}'`);
  return v as LoadBalancing;
}

export const command: CommandSpec = {
  description:
    'Writes an nginx config that load-balances OpenAI-compatible backends, taken from a JSON file, --services, or a ' +
    'running registry (healthy openai-api services). Streams by default (proxy_buffering off, keep-alive upstreams). ' +
    'See docs/configuration.md for the differences from InfiniLM-SVC.',
  options: {
    'router-port': { type: 'string', valueName: 'port', description: 'Port nginx listens on', defaultText: String(NGINX_DEFAULTS.routerPort) },
    'router-host': { type: 'string', valueName: 'addr', description: 'Listen on this address only', defaultText: 'all interfaces' },
    'upstream-name': { type: 'string', valueName: 'name', description: 'Name of the upstream block', defaultText: NGINX_DEFAULTS.upstreamName },
    'config-file': { type: 'string', valueName: 'path', description: 'JSON file {"services": [{name?, host, port, weight?, max_fails?, fail_timeout?, backup?}]}' },
    services: { type: 'string', valueName: 'list', description: "Comma-separated 'name:host:port[:weight]' entries" },
    'registry-url': { type: 'string', valueName: 'url', description: 'Take the healthy openai-api services of this registry' },
    output: { type: 'string', short: 'o', valueName: 'path', description: 'Output file', defaultText: 'stdout' },
    'load-balancing': { type: 'string', valueName: 'method', description: LOAD_BALANCING.join(' | '), defaultText: NGINX_DEFAULTS.loadBalancing },
    'proxy-timeout': { type: 'string', valueName: 'seconds', description: 'proxy_send_timeout and proxy_read_timeout', defaultText: String(NGINX_DEFAULTS.proxyTimeoutS) },
    'proxy-connect-timeout': { type: 'string', valueName: 'seconds', description: 'proxy_connect_timeout', defaultText: String(NGINX_DEFAULTS.proxyConnectTimeoutS) },
    buffered: { type: 'boolean', description: "Buffer responses as the original did (proxy_buffering on); breaks token streaming" },
    'runtime-dir': { type: 'string', valueName: 'dir', description: 'Put pid, logs and temp files under this directory (run nginx without root)' },
  },
  examples: [
    'switchboard nginx-config --services gpu1:10.0.0.1:8000,gpu2:10.0.0.2:8000:2 -o /etc/nginx/nginx.conf',
    'switchboard nginx-config --registry-url http://127.0.0.1:8081 --load-balancing least_conn',
  ],
  async run(ctx) {
    const v = ctx.values;
    const runtimeDir = str(v, 'runtime-dir');
    const opts: NginxConfigOptions = {
      routerPort: int(v, 'router-port', NGINX_DEFAULTS.routerPort, 1, 65535),
      routerHost: str(v, 'router-host'),
      upstreamName: str(v, 'upstream-name') ?? NGINX_DEFAULTS.upstreamName,
      loadBalancing: loadBalancing(v),
      proxyTimeoutS: int(v, 'proxy-timeout', NGINX_DEFAULTS.proxyTimeoutS, 1, 31_536_000),
      proxyConnectTimeoutS: int(v, 'proxy-connect-timeout', NGINX_DEFAULTS.proxyConnectTimeoutS, 1, 31_536_000),
      buffered: v.buffered === true,
      runtimeDir: runtimeDir === undefined ? undefined : resolve(runtimeDir),
    };
    try {
      const services: ServiceEndpoint[] = [];
      const configFile = str(v, 'config-file');
      const spec = str(v, 'services');
      const registryUrl = str(v, 'registry-url');
      if (configFile !== undefined) services.push(...servicesFromFile(configFile));
      if (spec !== undefined) services.push(...servicesFromSpec(spec));
      if (registryUrl !== undefined) services.push(...(await servicesFromRegistry(registryUrl, { signal: ctx.signal })));
      const text = generateNginxConfig(services, opts);
      const output = str(v, 'output');
      if (output === undefined) {
        ctx.stdout.write(`${text}\n`);
      } else {
        writeFileAtomic(output, text);
        ctx.stdout.write(`Nginx configuration saved to: ${output}\n`);
      }
      return 0;
    } catch (err) {
      if (!isSwitchboardError(err)) throw err;
      ctx.stderr.write(`Error: ${err.message}\n`);
      return 1;
    }
  },
};
