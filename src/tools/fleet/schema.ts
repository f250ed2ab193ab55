// The fleet file of `switchboard up` and `switchboard fleet`: a registry, a router and engines
// (each supervised by its own agent), on one host by default. Each process's block is that
// process's own config keys, as is (registry keys, the routing file, the agent's [babysitter]
// table, sim keys), so nothing here renames what docs/configuration.md already documents. The
// file is checked whole before anything starts: an unknown key anywhere is refused, named.
import { z } from 'zod';
import { agentFileSchema, backendSchema } from '../../agent/config.js';
import { assetPath, parseConfig, readConfigFile, sbError, type ConfigLayer } from '../../core/index.js';
import { ENGINE_KINDS, simConfigSchema } from '../../engine/config.js';
import { registryConfigSchema } from '../../registry/config.js';
import { routerConfigSchema } from '../../router/config.js';

/** Names a fleet process cannot take: they name the registry and router files (run/registry.pid). */
const RESERVED = ['registry', 'router'];

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be letters, digits, ".", "_" or "-" (a file and service name)')
  .refine((n) => !RESERVED.includes(n), 'is reserved (it names the registry or router files)');
const port = z.number().int().min(1).max(65535);

const routerBlock = z.strictObject({
  port: port.default(8080),
  /** The routing file, written to routing.yaml (the router's config keys). */
  routing: routerConfigSchema.prefault({}),
});

const engineSchema = z
  .strictObject({
    /** The agent's name; its engine registers as <name>-server. With replicas: <name>-1, <name>-2, ... */
    name,
    /** Model ids of a simulated engine (`model` for one). */
    model: z.string().min(1).max(256).optional(),
    models: z.array(z.string().min(1).max(256)).min(1).optional(),
    /** Which endpoints a simulated engine serves. */
    kind: z.enum(ENGINE_KINDS).optional(),
    replicas: z.number().int().min(1).max(64).default(1),
    /** Engine port of the first replica (its agent: port + 1; the next replica: port + 2). Default: assigned. */
    port: port.max(65534).optional(),
    /** Where this engine and its agent bind (default: the fleet's host). */
    host: z.string().min(1).optional(),
    /** Routing weight and priority (record metadata; lower priority is preferred). */
    weight: z.number().int().min(1).optional(),
    priority: z.number().int().optional(),
    /** More engine-record metadata (the agent's [metadata] table). */
    metadata: z.record(z.string(), z.unknown()).default({}),
    /** `switchboard sim` config keys (docs/configuration.md, "switchboard sim"). */
    sim: simConfigSchema.optional(),
    /** A real engine instead of a simulated one: an agent [backend] table, as in its TOML. */
    backend: backendSchema.optional(),
    /** The agent's [babysitter] table, as in its TOML (snake_case, seconds). */
    agent: agentFileSchema.shape.babysitter.optional(),
  })
  .superRefine((e, ctx) => {
    if (e.backend) {
      for (const k of ['model', 'models', 'kind', 'sim'] as const) {
        if (e[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is for simulated engines; with a backend table, set the engine there' });
      }
    } else if (e.model === undefined && e.models === undefined) {
      ctx.addIssue({ code: 'custom', path: ['models'], message: 'is required for a simulated engine (model: <id> or models: [ids]), unless a backend table describes a real engine' });
    } else if (e.model !== undefined && e.models !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'and models cannot both be set' });
    }
  });

export const fleetFileSchema = z.strictObject({
  /** Shown in the summary. */
  name: z.string().min(1).max(100).default('fleet'),
  /** Every process binds this address unless an engine says otherwise. */
  host: z.string().min(1).default('127.0.0.1'),
  /** The address the processes give each other (registry and router URLs) when `host` is not reachable from every machine, e.g. 0.0.0.0. */
  advertiseHost: z.string().min(1).optional(),
  /** The registry's config keys (docs/configuration.md, "switchboard registry"); port 8081 by default. */
  registry: registryConfigSchema.prefault({}),
  router: routerBlock.prefault({}),
  /** Every agent's [babysitter] table; an engine's own `agent:` overrides it key by key. */
  agent: agentFileSchema.shape.babysitter.optional(),
  engines: z.array(engineSchema).min(1),
});

export type FleetFile = z.output<typeof fleetFileSchema>;

/** The demo fleet `switchboard up` runs without a file. */
export function demoFleetPath(): string {
  return assetPath('fleet', 'demo.yaml');
}

/** The raw blocks copied into generated files as written (validated by the schema above). */
export interface RawEngineBlocks {
  sim: Record<string, unknown> | undefined;
  backend: Record<string, unknown> | undefined;
  agent: Record<string, unknown> | undefined;
}

export interface LoadedFleet {
  file: FleetFile;
  /** Where it came from ("the built-in demo fleet" or the path). */
  source: string;
  raw: {
    registry: Record<string, unknown>;
    routing: Record<string, unknown>;
    agent: Record<string, unknown>;
    engines: RawEngineBlocks[];
  };
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Keys of a process block that the fleet itself decides (where each process binds, who talks to whom). */
function ownedKeyIssues(raw: LoadedFleet['raw'], where: string): string[] {
  const issues: string[] = [];
  const check = (block: Record<string, unknown> | undefined, path: string, keys: readonly string[], instead: string): void => {
    for (const k of keys) if (block?.[k] !== undefined) issues.push(`${where}: '${path}.${k}' is set by the fleet (${instead}), not here`);
  };
  check(raw.registry, 'registry', ['host'], 'the top-level host');
  check(raw.routing, 'router.routing', ['host', 'port', 'registryUrl'], 'host, router.port and the fleet\'s registry');
  raw.engines.forEach((e, i) => check(e.sim, `engines.${i}.sim`, ['host', 'port', 'models', 'kind'], 'the engine\'s host, port, model/models and kind'));
  return issues;
}

/** Checks a fleet object (from a file or code). Throws SB_ERR_CONFIG_INVALID naming every bad key. */
export function parseFleet(values: Record<string, unknown>, source: string): LoadedFleet {
  const where = `config file ${source}`;
  const layer: ConfigLayer = { source: where, values };
  const file = parseConfig(fleetFileSchema, [layer]) as FleetFile;
  const engines = Array.isArray(values.engines) ? values.engines : [];
  const raw: LoadedFleet['raw'] = {
    registry: obj(values.registry) ?? {},
    routing: obj(obj(values.router)?.routing) ?? {},
    agent: obj(values.agent) ?? {},
    engines: engines.map((e) => ({ sim: obj(obj(e)?.sim), backend: obj(obj(e)?.backend), agent: obj(obj(e)?.agent) })),
  };
  const issues = ownedKeyIssues(raw, where);
  if (issues.length > 0) throw sbError('SB_ERR_CONFIG_INVALID', where, issues.join('; '));
  return { file, source, raw };
}

/** Reads a fleet file (YAML, JSON or TOML by extension), or the built-in demo without one. */
export function loadFleet(path: string | undefined): LoadedFleet {
  if (path === undefined) return parseFleet(readConfigFile(demoFleetPath()), 'the built-in demo fleet (assets/fleet/demo.yaml)');
  const values = readConfigFile(path);
  if (Object.keys(values).length === 0) throw sbError('SB_ERR_CONFIG_FILE', path, 'the file is empty: a fleet needs at least `engines:`');
  return parseFleet(values, path);
}
