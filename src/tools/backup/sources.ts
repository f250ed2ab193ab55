// What to back up: the files and stores given on the command line, plus what those files point
// at (a routing file's keys file, data directory and usage database; a fleet file's registry data
// directory and routing block; an agent's engine config file), so that
// `switchboard backup --config routing.yaml` takes the router's whole state. Relative paths in
// files are resolved from the working directory, as the processes resolve them.
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { modelsFileOf } from '../../agent/config.js';
import { readConfigFile, sbError } from '../../core/index.js';
import { SPOOL_FILE, SQLITE_FILE } from '../../gateway/usage/index.js';
import { SNAPSHOT_FILE } from '../../registry/store/snapshot.js';
import type { FileKind } from './manifest.js';
import { describeDb, isPostgresUrl } from './usage-data.js';

export interface BackupSources {
  routingFile?: string | undefined;
  keysFile?: string | undefined;
  agentConfigs?: readonly string[] | undefined;
  fleetFile?: string | undefined;
  /** Other files to keep (templates, a static services file, ...). */
  files?: readonly string[] | undefined;
  registryDataDir?: string | undefined;
  registryUrl?: string | undefined;
  /** The router's data directory (usage.db and its spool). */
  dataDir?: string | undefined;
  usageDb?: string | undefined;
}

export type SourceItem =
  | { kind: 'routing' | 'keys' | 'agent' | 'agent-models' | 'fleet' | 'config'; file: string; why: string }
  | { kind: 'registry-snapshot'; file: string; why: string }
  | { kind: 'registry-export'; url: string; why: string }
  | { kind: 'usage-sqlite'; file: string; why: string }
  | { kind: 'usage-export'; url: string; why: string }
  | { kind: 'usage-spool'; file: string; why: string };

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function needFile(path: string, what: string): string {
  const abs = resolve(path);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) throw sbError('SB_ERR_BACKUP_SOURCE', what, `${abs}: no such file`);
  if (!st.isFile()) throw sbError('SB_ERR_BACKUP_SOURCE', what, `${abs}: not a regular file`);
  return abs;
}

function needDir(path: string, what: string): string {
  const abs = resolve(path);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) throw sbError('SB_ERR_BACKUP_SOURCE', what, `${abs}: no such directory`);
  if (!st.isDirectory()) throw sbError('SB_ERR_BACKUP_SOURCE', what, `${abs}: not a directory`);
  return abs;
}

/** Everything to back up, each source once, in a stable order. */
export function collectSources(opts: BackupSources): SourceItem[] {
  const items: SourceItem[] = [];
  const seenFiles = new Set<string>();
  const addFile = (kind: 'routing' | 'keys' | 'agent' | 'agent-models' | 'fleet' | 'config', path: string, why: string): void => {
    const abs = needFile(path, why);
    if (seenFiles.has(abs)) return;
    seenFiles.add(abs);
    items.push({ kind, file: abs, why });
  };
  let keysFile = opts.keysFile;
  let dataDir = opts.dataDir;
  let usageDb = opts.usageDb;
  let registryDataDir = opts.registryDataDir;
  const fromRouting = (routing: Record<string, unknown>, where: string): void => {
    keysFile ??= str(routing.keysFile);
    dataDir ??= str(routing.dataDir);
    usageDb ??= str(routing.usageDb);
    const staticServices = str(routing.staticServices);
    if (staticServices) addFile('config', staticServices, `staticServices in ${where}`);
  };

  if (opts.fleetFile) {
    addFile('fleet', opts.fleetFile, 'the fleet file (--fleet)');
    const fleet = readConfigFile(resolve(opts.fleetFile));
    const registry = obj(fleet.registry);
    const store = str(registry.store) ?? 'memory';
    if (store === 'memory') registryDataDir ??= str(registry.dataDir);
    fromRouting(obj(obj(fleet.router).routing), `the fleet file ${opts.fleetFile}`);
  }
  if (opts.routingFile) {
    addFile('routing', opts.routingFile, 'the routing file (--config)');
    fromRouting(readConfigFile(resolve(opts.routingFile)), `the routing file ${opts.routingFile}`);
  }
  if (keysFile) addFile('keys', keysFile, opts.keysFile ? 'the keys file (--keys-file)' : 'keysFile in the routing file');
  for (const agent of opts.agentConfigs ?? []) {
    addFile('agent', agent, 'an agent config (--agent-config)');
    const file = readConfigFile(resolve(agent));
    const engineConfig = str(obj(file.backend).config_file);
    if (engineConfig) addFile('config', engineConfig, `backend.config_file in ${agent}`);
    // the models registered through its API, when it has saved any
    const models = modelsFileOf(obj(file.babysitter));
    if (models && existsSync(resolve(models))) addFile('agent-models', models, `the model snapshot of ${agent}`);
  }
  for (const f of opts.files ?? []) addFile('config', f, 'a file (--file)');

  if (registryDataDir) {
    const dir = needDir(registryDataDir, "the registry's data directory");
    const file = join(dir, SNAPSHOT_FILE);
    if (!existsSync(file)) {
      throw sbError('SB_ERR_BACKUP_SOURCE', "the registry's data directory", `${dir} has no ${SNAPSHOT_FILE} (a registry started with --data-dir writes it at its first change; with the Redis store, use --registry-url)`);
    }
    items.push({ kind: 'registry-snapshot', file, why: opts.registryDataDir ? 'the registry snapshot (--registry-data-dir)' : 'the registry snapshot (registry.dataDir in the fleet file)' });
  }
  if (opts.registryUrl) items.push({ kind: 'registry-export', url: opts.registryUrl.replace(/\/+$/, ''), why: 'the registry (--registry-url)' });

  if (usageDb && isPostgresUrl(usageDb)) {
    items.push({ kind: 'usage-export', url: usageDb, why: opts.usageDb ? 'the usage database (--usage-db)' : 'the usage database (usageDb in a file)' });
  } else if (usageDb) {
    items.push({ kind: 'usage-sqlite', file: needFile(usageDb.replace(/^(sqlite|file):(\/\/)?/i, ''), 'the usage database (--usage-db)'), why: 'the usage database (--usage-db)' });
  } else if (dataDir) {
    const dir = needDir(dataDir, "the router's data directory");
    const file = join(dir, SQLITE_FILE);
    if (!existsSync(file)) throw sbError('SB_ERR_BACKUP_SOURCE', "the router's data directory", `${dir} has no ${SQLITE_FILE} (a router started with --data-dir creates it; is this its data directory?)`);
    items.push({ kind: 'usage-sqlite', file, why: `${SQLITE_FILE} in the router's data directory` });
  }
  if (dataDir) {
    const spool = join(resolve(dataDir), SPOOL_FILE);
    if ((statSync(spool, { throwIfNoEntry: false })?.size ?? 0) > 0) items.push({ kind: 'usage-spool', file: spool, why: 'rows waiting in the spool' });
  }
  return items;
}

/** Where each item goes inside the backup (unique; config files keep their names). */
export function backupPaths(items: readonly SourceItem[]): string[] {
  const taken = new Set<string>();
  const unique = (dir: string, name: string): string => {
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    let p = `${dir}/${name}`;
    for (let n = 2; taken.has(p); n++) p = `${dir}/${stem}-${n}${ext}`;
    taken.add(p);
    return p;
  };
  return items.map((it): string => {
    switch (it.kind) {
      case 'routing':
      case 'keys':
      case 'fleet':
      case 'config':
        return unique('config', basename(it.file));
      case 'agent':
      case 'agent-models':
        return unique('config/agents', basename(it.file));
      case 'registry-snapshot':
        return unique('registry', SNAPSHOT_FILE);
      case 'registry-export':
        return unique('registry', 'services.json');
      case 'usage-sqlite':
        return unique('router', SQLITE_FILE);
      case 'usage-export':
        return unique('router', 'usage-records.jsonl');
      case 'usage-spool':
        return unique('router', SPOOL_FILE);
    }
  });
}

export function itemSource(it: SourceItem): string {
  return 'url' in it ? (it.kind === 'usage-export' ? describeDb(it.url) : it.url) : it.file;
}

export type { FileKind };
