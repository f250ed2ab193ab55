// `switchboard services` (alias `registry-client`): InfiniLM-SVC's register_service.py on our CLI.
import { isSwitchboardError, sbError } from '../../core/index.js';
import { RegistryClient } from '../../registry/client.js';
import type { ServiceRecord } from '../../registry/record.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { durationFlag, stringFlag } from '../flags.js';

function client(ctx: CommandContext): RegistryClient {
  const url = stringFlag(ctx.values, 'registry') ?? ctx.env.SWITCHBOARD_REGISTRY_URL ?? 'http://localhost:8081';
  return new RegistryClient({ url, token: stringFlag(ctx.values, 'token') ?? (ctx.env.SWITCHBOARD_TOKEN || undefined), timeoutMs: 10_000 });
}

function positional(ctx: CommandContext, i: number, what: string): string {
  const v = ctx.positionals[i];
  if (!v) throw sbError('SB_ERR_USAGE', `missing ${what}`);
  return v;
}

function models(r: ServiceRecord): string {
  const m = r.metadata.models;
  return Array.isArray(m) ? m.join(',') : '-';
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

async function run(ctx: CommandContext): Promise<number> {
  const [sub] = ctx.positionals;
  const c = client(ctx);
  const json = ctx.values.json === true;
  const out = (s: string): boolean => ctx.stdout.write(s);
  switch (sub) {
    case 'register': {
      const name = positional(ctx, 1, 'NAME');
      const host = positional(ctx, 2, 'HOST');
      const portText = positional(ctx, 3, 'PORT');
      const port = Number(portText);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw sbError('SB_ERR_USAGE', `PORT must be an integer from 1 to 65535, got '${portText}'`);
      let metadata: Record<string, unknown> = {};
      const metaText = stringFlag(ctx.values, 'metadata');
      if (metaText) {
        try {
          metadata = JSON.parse(metaText) as Record<string, unknown>;
        } catch (err) {
          throw sbError('SB_ERR_USAGE', `--metadata is not valid JSON: ${(err as Error).message}`);
        }
      }
      const lease = durationFlag(ctx.values, 'lease-ttl');
      const rec = await c.register({
        name,
        host,
        port,
        hostname: stringFlag(ctx.values, 'hostname') ?? host,
        url: `http://${host}:${port}`,
        status: stringFlag(ctx.values, 'status') ?? 'running',
        metadata,
        ...(lease ? { lease_ttl: lease / 1000 } : {}),
      });
      out(json ? `${JSON.stringify(rec)}\n` : `Registered service '${rec.name}' at ${rec.url}\n`);
      return 0;
    }
    case 'unregister': {
      const name = positional(ctx, 1, 'NAME');
      if (!(await c.deregister(name))) {
        ctx.stderr.write(`Service '${name}' not found\n`);
        return 1;
      }
      out(`Unregistered service '${name}'\n`);
      return 0;
    }
    case 'heartbeat': {
      const name = positional(ctx, 1, 'NAME');
      const status = stringFlag(ctx.values, 'status');
      if (!(await c.heartbeat(name, status ? { status } : {}))) {
        ctx.stderr.write(`Service '${name}' not found\n`);
        return 1;
      }
      out(`Heartbeat sent for '${name}'\n`);
      return 0;
    }
    case 'list': {
      const { services } = await c.list(ctx.values.healthy === true ? { healthy: true } : {});
      if (json) {
        out(`${JSON.stringify(services, null, 2)}\n`);
        return 0;
      }
      if (services.length === 0) {
        out('No services registered\n');
        return 0;
      }
      const rows = [['NAME', 'URL', 'STATUS', 'HEALTHY', 'PROBE', 'TYPE', 'MODELS']];
      for (const s of services) rows.push([s.name, s.url, s.status, s.is_healthy ? 'yes' : 'no', s.health_status, typeof s.metadata.type === 'string' ? s.metadata.type : '-', models(s)]);
      out(table(rows));
      return 0;
    }
    case 'health': {
      const name = ctx.positionals[1];
      if (name) {
        const h = await c.serviceHealth(name);
        out(json ? `${JSON.stringify(h)}\n` : `${h.service}: ${h.health_status} (${h.is_healthy ? 'healthy' : 'not healthy'})\n`);
        return h.is_healthy ? 0 : 1;
      }
      const h = await c.health();
      out(json ? `${JSON.stringify(h)}\n` : `Registry ${c.url}: ${String(h.status)}, ${String(h.healthy_services)}/${String(h.registered_services)} services healthy\n`);
      return h.status === 'healthy' ? 0 : 1;
    }
    case undefined:
      throw sbError('SB_ERR_USAGE', 'missing subcommand (register, unregister, heartbeat, list, health)');
    default:
      throw sbError('SB_ERR_USAGE', `unknown subcommand '${sub}' (register, unregister, heartbeat, list, health)`);
  }
}

export const command: CommandSpec = {
  args: '[args]',
  description: 'Talks to a registry from the command line, like InfiniLM-SVC\'s register_service.py. Exit code 0 on success, 1 on failure.',
  subcommands: {
    'register NAME HOST PORT': 'Register a service (url http://HOST:PORT, status running)',
    'unregister NAME': 'Remove a service',
    'heartbeat NAME': 'Send one heartbeat',
    list: 'List services (--healthy: healthy only)',
    'health [NAME]': 'Registry health, or probe one service now',
  },
  options: {
    registry: { type: 'string', description: 'Registry URL (or SWITCHBOARD_REGISTRY_URL)', valueName: 'url', defaultText: 'http://localhost:8081' },
    token: { type: 'string', description: 'Bearer token for writes (or SWITCHBOARD_TOKEN)', valueName: 'token' },
    hostname: { type: 'string', description: 'register: hostname field (default: HOST)', valueName: 'name' },
    metadata: { type: 'string', description: 'register: metadata as a JSON object', valueName: 'json' },
    status: { type: 'string', description: 'register/heartbeat: status (default running)', valueName: 'status' },
    'lease-ttl': { type: 'string', description: 'register: lease in seconds (registry default 120)', valueName: 'seconds' },
    healthy: { type: 'boolean', description: 'list: only healthy services' },
    json: { type: 'boolean', description: 'Print JSON' },
  },
  examples: [
    'switchboard services register gpu-1 10.0.0.5 8100 --metadata \'{"type":"openai-api","models":["qwen3-32b"]}\'',
    'switchboard services list --registry http://10.0.0.1:18000',
    'switchboard services health gpu-1',
  ],
  async run(ctx) {
    try {
      return await run(ctx);
    } catch (err) {
      // like register_service.py: a failed call prints why and exits 1 (usage errors stay 2)
      if (isSwitchboardError(err) && err.code !== 'SB_ERR_USAGE') {
        ctx.stderr.write(`Error: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  },
};

