// `switchboard backup`: configuration files, the registry's records and the usage database in one
// folder or .tar.gz with a manifest of checksums (src/tools/backup/).
import { isSwitchboardError, sbError, systemClock } from '../../core/index.js';
import { createBackup } from '../../tools/backup/backup.js';
import type { Manifest } from '../../tools/backup/manifest.js';
import type { CommandSpec } from '../command.js';
import { boolFlag, stringFlag } from '../flags.js';

function many(v: string | boolean | string[] | undefined): string[] {
  return v === undefined || typeof v === 'boolean' ? [] : Array.isArray(v) ? v : [v];
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function manifestTable(m: Manifest): string {
  const rows = m.files.map((f) => {
    const count = f.rows !== undefined ? plural(f.rows, 'row') : f.services !== undefined ? plural(f.services, 'service') : '';
    return [f.path, f.kind, size(f.bytes), count, f.source];
  });
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r.map((c, i) => (i < 4 ? (i === 2 ? c.padStart(w[i]!) : c.padEnd(w[i]!)) : c)).join('  ')}`).join('\n') + '\n';
}

export const command: CommandSpec = {
  description: [
    'Copies what it takes to rebuild a node: configuration files (the routing file and what it',
    'names: keys file, data directory, usage database; agent TOMLs; a fleet file), the registry\'s',
    'records (its snapshot file, or a live export of a running registry), and the usage database',
    '(an online copy of SQLite while the router writes; PostgreSQL exported as JSON lines). A',
    'manifest.json lists each file with its source and SHA-256. Written under a temporary name and',
    'renamed, so a failed backup leaves nothing under --out. Restore with `switchboard restore`.',
  ].join('\n'),
  options: {
    out: { type: 'string', short: 'o', description: 'Where to write: a folder to create, or a file ending in .tar.gz', valueName: 'dir|file.tar.gz' },
    config: { type: 'string', short: 'c', description: "The router's routing file (its keysFile, dataDir, usageDb and staticServices come too)", valueName: 'file' },
    'keys-file': { type: 'string', description: 'The API keys file (auth.yaml)', valueName: 'file' },
    'agent-config': { type: 'string', multiple: true, description: "An agent's TOML (repeatable; an infinilm-rust backend's config_file comes too)", valueName: 'file' },
    fleet: { type: 'string', description: 'A fleet file (switchboard up / fleet): its registry data directory and routing block are followed', valueName: 'file' },
    file: { type: 'string', multiple: true, description: 'Any other file to keep (repeatable): templates, a static services file, ...', valueName: 'file' },
    'registry-data-dir': { type: 'string', description: "The registry's --data-dir (its registry-snapshot.json)", valueName: 'dir' },
    'registry-url': { type: 'string', description: 'A running registry to export (GET /services: every record; works with the Redis store)', valueName: 'url' },
    'data-dir': { type: 'string', description: "The router's --data-dir (usage.db, and rows waiting in its spool)", valueName: 'dir' },
    'usage-db': { type: 'string', description: "The router's --usage-db: postgres://… (?schema=) or a SQLite file", valueName: 'url' },
    force: { type: 'boolean', description: 'Replace an existing backup at --out' },
    json: { type: 'boolean', description: 'Print the manifest as JSON' },
  },
  examples: [
    'switchboard backup --config /etc/switchboard/routing.yaml --data-dir /var/lib/switchboard/router --registry-data-dir /var/lib/switchboard/registry --out /var/backups/switchboard/$(date +%Y%m%d-%H%M%S).tar.gz',
    'switchboard backup --registry-url http://127.0.0.1:8081 --usage-db postgres://switchboard@db/switchboard --out ./backup',
    'switchboard backup --fleet fleet.yaml --agent-config /etc/switchboard/node.toml --out node.tar.gz',
  ],
  async run(ctx) {
    const v = ctx.values;
    const out = stringFlag(v, 'out');
    if (!out) throw sbError('SB_ERR_USAGE', '--out is required: a folder to create, or a file ending in .tar.gz');
    try {
      const res = await createBackup({
        out,
        force: boolFlag(v, 'force') ?? false,
        routingFile: stringFlag(v, 'config'),
        keysFile: stringFlag(v, 'keys-file'),
        agentConfigs: many(v['agent-config']),
        fleetFile: stringFlag(v, 'fleet'),
        files: many(v.file),
        registryDataDir: stringFlag(v, 'registry-data-dir'),
        registryUrl: stringFlag(v, 'registry-url'),
        dataDir: stringFlag(v, 'data-dir'),
        usageDb: stringFlag(v, 'usage-db'),
        clock: systemClock,
      });
      if (boolFlag(v, 'json')) {
        ctx.stdout.write(`${JSON.stringify({ out: res.out, archive: res.archive, bytes: res.bytes, manifest: res.manifest }, null, 2)}\n`);
      } else {
        ctx.stdout.write(`Backup written to ${res.out} (${plural(res.manifest.files.length, 'file')}, ${size(res.bytes)}${res.archive ? ' compressed' : ''}):\n`);
        ctx.stdout.write(manifestTable(res.manifest));
      }
      return 0;
    } catch (err) {
      if (!isSwitchboardError(err) || err.code === 'SB_ERR_USAGE') throw err;
      ctx.stderr.write(`switchboard backup: ${err.message} [${err.code}]\n`);
      return 1;
    }
  },
};
