// `switchboard nginx-config`: an nginx config that load-balances a fleet of OpenAI-compatible
// backends, in the shape InfiniLM-SVC's python/generate_nginx_config.py wrote (reference §5.2):
// the same blocks, directives, comments and /services JSON, line for line. Where that output
// was wrong we write what it meant, and say so in a comment in the file itself:
//   - /health and /services used `add_header Content-Type`, which nginx sends in addition to
//     the default_type header: every answer carried two Content-Types. We set default_type.
//   - /backend-health proxied to the backends' /backend-health, which no backend serves; it
//     now asks their /health.
//   - `proxy_buffering on` held streamed tokens (SSE) back until a buffer filled; by default we
//     stream (buffering off, HTTP/1.1 keep-alive to the backends). `buffered: true` gives the
//     original's buffer settings.
//   - ip_hash with a backup server, which `nginx -t` rejects, is refused here instead.
//   - /services text is escaped for nginx (`\`, `'`, `$` in a name broke the file or were
//     read as variables), and an IPv6 backend is bracketed.
import { sbError } from '../core/index.js';
import { pyJsonDumps } from './py-format.js';
import { ENDPOINT_DEFAULTS, HOST_PATTERN, type ServiceEndpoint } from './services-source.js';

export const LOAD_BALANCING = ['round_robin', 'least_conn', 'ip_hash'] as const;
export type LoadBalancing = (typeof LOAD_BALANCING)[number];

export interface NginxConfigOptions {
  routerPort: number;
  /** Listen on this address only; all interfaces (the original's `listen <port>`) when unset. */
  routerHost?: string | undefined;
  upstreamName: string;
  loadBalancing: LoadBalancing;
  proxyTimeoutS: number;
  proxyConnectTimeoutS: number;
  /** The original's `proxy_buffering on` block instead of streaming. */
  buffered?: boolean | undefined;
  /** pid, logs and temp files under this absolute directory, so nginx runs without root. */
  runtimeDir?: string | undefined;
}

export const NGINX_DEFAULTS = {
  routerPort: 8080,
  upstreamName: 'infinilm_backend',
  loadBalancing: 'round_robin',
  proxyTimeoutS: 300,
  proxyConnectTimeoutS: 60,
} as const satisfies Partial<NginxConfigOptions>;

/** Idle connections each worker keeps open to the upstream when streaming. */
export const UPSTREAM_KEEPALIVE = 32;

const UPSTREAM_NAME = /^[A-Za-z0-9_.-]+$/;

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A double-quoted nginx string for a path; `$` would be read as a variable in access_log. */
function quotePath(path: string): string {
  if (/[$\r\n]/.test(path)) throw sbError('SB_ERR_INPUT_INVALID', '--runtime-dir', 'must not contain "$" or line breaks');
  return `"${path.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * JSON text for inside nginx single quotes. nginx turns `\\`, `\'`, `\"`, `\n`, `\r` and `\t` into
 * characters and keeps any other backslash pair, so only the JSON escapes of those forms need
 * their backslash doubled (`\u00e9` stays as the original wrote it). nginx has no escape for
 * `$` (a variable); in JSON text `$` only occurs inside strings, where `\u0024` means the same.
 */
function nginxSingleQuotedJson(json: string): string {
  return json
    .replace(/\\(.)/g, (pair, c: string) => (c === '\\' ? '\\\\\\\\' : '"nrt'.includes(c) ? `\\${pair}` : pair))
    .replaceAll("'", "\\'")
    .replaceAll('$', '\\u0024');
}

export function servicesInfo(services: readonly ServiceEndpoint[], opts: NginxConfigOptions): Record<string, unknown> {
  return {
    upstream: opts.upstreamName,
    load_balancing_method: opts.loadBalancing,
    services: services.map((s) => ({
      name: s.name,
      host: s.host,
      port: s.port,
      weight: s.weight,
      max_fails: s.maxFails,
      fail_timeout: s.failTimeout,
      backup: s.backup,
    })),
    total_services: services.length,
  };
}

function serverLine(s: ServiceEndpoint): string {
  let line = `        server ${hostPort(s.host, s.port)}`;
  if (s.weight !== ENDPOINT_DEFAULTS.weight) line += ` weight=${s.weight}`;
  if (s.maxFails !== ENDPOINT_DEFAULTS.maxFails) line += ` max_fails=${s.maxFails}`;
  if (s.failTimeout !== ENDPOINT_DEFAULTS.failTimeout) line += ` fail_timeout=${s.failTimeout}`;
  if (s.backup) line += ' backup';
  return `${line};  # ${s.name.replace(/[\r\n]+/g, ' ')}\n`;
}

/** The whole file, without a trailing newline (the original's; `print` added one on stdout). */
export function generateNginxConfig(services: readonly ServiceEndpoint[], opts: NginxConfigOptions): string {
  if (services.length === 0) throw sbError('SB_ERR_NO_SERVICES', 'Use --config-file, --services or --registry-url to specify services.');
  if (!UPSTREAM_NAME.test(opts.upstreamName)) throw sbError('SB_ERR_INPUT_INVALID', '--upstream-name', 'expected letters, digits, "_", "." or "-"');
  if (opts.routerHost !== undefined && !HOST_PATTERN.test(opts.routerHost)) throw sbError('SB_ERR_INPUT_INVALID', '--router-host', 'expected an IP address or host name');
  if (opts.loadBalancing === 'ip_hash') {
    const backup = services.find((s) => s.backup);
    if (backup) throw sbError('SB_ERR_INPUT_INVALID', `service '${backup.name}'`, 'backup servers cannot be used with ip_hash (nginx rejects the combination)');
  }
  const up = opts.upstreamName;
  const rt = opts.runtimeDir;
  let c = '';
  if (rt !== undefined) c += `pid ${quotePath(`${rt}/nginx.pid`)};\nerror_log ${quotePath(`${rt}/error.log`)};\n\n`;
  c += 'events {\n    worker_connections 1024;\n}\n\nhttp {\n';
  if (rt !== undefined) {
    c += '    # Everything nginx writes goes under --runtime-dir, so it runs without root\n';
    c += `    access_log ${quotePath(`${rt}/access.log`)};\n`;
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) c += `    ${t}_temp_path ${quotePath(`${rt}/${t}`)};\n`;
    c += '\n';
  }
  c += `    # Load balancing method\n    upstream ${up} {\n        # Load balancing method: ${opts.loadBalancing}\n`;
  if (opts.loadBalancing === 'least_conn') c += '        least_conn;\n';
  else if (opts.loadBalancing === 'ip_hash') c += '        ip_hash;\n';
  for (const s of services) c += serverLine(s);
  if (!opts.buffered) c += `        # Idle keep-alive connections to the backends (after the balancing method, as nginx requires)\n        keepalive ${UPSTREAM_KEEPALIVE};\n`;
  c += `    }\n\n    # Health check configuration\n    upstream ${up}_health {\n`;
  for (const s of services) c += `        server ${hostPort(s.host, s.port)};\n`;
  c += `    }

    server {
        listen ${opts.routerHost === undefined ? opts.routerPort : hostPort(opts.routerHost, opts.routerPort)};
        server_name _;

        # Health check endpoint for the router itself
        location /health {
            access_log off;
            return 200 "healthy\\n";
            # default_type, not add_header: add_header sent a second Content-Type header
            default_type text/plain;
        }

        # Service discovery endpoint
        location /services {
            access_log off;
            default_type application/json;
            return 200 '${nginxSingleQuotedJson(pyJsonDumps(servicesInfo(services, opts), { indent: 2 }))}';
        }

        # Backend health check endpoint (each backend's /health; the original asked for /backend-health)
        location /backend-health {
            access_log off;
            proxy_pass http://${up}_health/health;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 5s;
            proxy_send_timeout 5s;
            proxy_read_timeout 5s;
        }

        # Proxy all other requests to backend services
        location / {
            proxy_pass http://${up};
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;

            # Timeout settings
            proxy_connect_timeout ${opts.proxyConnectTimeoutS}s;
            proxy_send_timeout ${opts.proxyTimeoutS}s;
            proxy_read_timeout ${opts.proxyTimeoutS}s;

`;
  c += opts.buffered
    ? '            # Buffer settings\n            proxy_buffering on;\n            proxy_buffer_size 4k;\n            proxy_buffers 8 4k;\n'
    : '            # Streaming: tokens (SSE) reach the client as the backend sends them, over keep-alive\n' +
      '            # HTTP/1.1 connections (--buffered restores the original\'s proxy_buffering on)\n' +
      '            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n            proxy_buffering off;\n';
  c += `
            # Error handling
            proxy_next_upstream error timeout invalid_header http_500 http_502 http_503 http_504;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
        }
    }
}`;
  return c;
}
