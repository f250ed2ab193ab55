// `switchboard restore <backup>`: checks a backup against its manifest and puts it back
// (src/tools/backup/restore.ts has the order of operations and why).
import { isSwitchboardError, sbError, systemClock } from '../../core/index.js';
import { PARTS, type Part } from '../../tools/backup/manifest.js';
import { restoreBackup, type RestoreResult } from '../../tools/backup/restore.js';
import { describeDb } from '../../tools/backup/usage-data.js';
import type { CommandSpec } from '../command.js';
import { boolFlag, listFlag, stringFlag } from '../flags.js';
import { manifestTable, plural } from './backup.js';

function parseOnly(values: string[] | undefined): Part[] | undefined {
  if (!values) return undefined;
  for (const p of values) if (!(PARTS as readonly string[]).includes(p)) throw sbError('SB_ERR_USAGE', `--only: unknown part '${p}' (one or more of ${PARTS.join(', ')})`);
  return values as Part[];
}

function report(r: RestoreResult): string {
  const m = r.manifest;
  const lines = [`Backup of ${m.createdAt} (switchboard ${m.switchboard} on ${m.hostname}): ${plural(m.files.length, 'file')}, checksums verified.`];
  if (r.dryRun) lines.push('Dry run: nothing was written. The restore would:');
  const verb = r.dryRun ? '  write  ' : '  restored';
  for (const f of r.files) lines.push(`${verb} ${f.path} -> ${f.to}${f.exists ? ' (replacing the existing file)' : ''}${f.note ? ` (${f.note})` : ''}`);
  if (r.usage) {
    const res = r.usage.result;
    lines.push(
      res
        ? `  loaded   ${plural(res.rows, 'usage row')} into ${describeDb(r.usage.target)}: ${res.inserted} new, ${res.rows - res.inserted} already there${res.skipped ? `, ${res.skipped} unreadable lines skipped` : ''}`
        : `  load     the usage rows of ${r.usage.sources.join(', ')} into ${describeDb(r.usage.target)} (rows already there are skipped)`,
    );
  }
  if (r.registry) {
    const res = r.registry.result;
    lines.push(
      res
        ? `  registered ${res.registered.length} of ${plural(r.registry.records, 'service')} in ${r.registry.url}${res.kept.length ? ` (${res.kept.length} already there, kept: ${res.kept.join(', ')}; --force re-registers them)` : ''}`
        : `  register the ${plural(r.registry.records, 'service')} of ${r.registry.from} in ${r.registry.url} (those already there are kept unless --force)`,
    );
  }
  if (r.files.length === 0 && !r.usage && !r.registry) lines.push('  nothing selected (see --only)');
  return `${lines.join('\n')}\n`;
}

export const command: CommandSpec = {
  args: '<backup>',
  description: [
    'Puts a backup made by `switchboard backup` back. The backup (a folder or .tar.gz) is checked',
    'whole first: every file is in the manifest with its size and SHA-256, nothing else is there.',
    'Then every destination is checked before anything is written: existing files are refused',
    'without --force, a running router\'s data directory always, the registry must answer and',
    'accept the token. Files are written beside their destination and renamed into place. Without',
    'destination flags, files go back where they came from. Usage rows can be loaded into a',
    'database (SQLite or PostgreSQL, one transaction; rows already there are skipped), and',
    'registry records re-registered in a running registry.',
  ].join('\n'),
  options: {
    list: { type: 'boolean', description: 'Only verify the backup and list what it holds' },
    'dry-run': { type: 'boolean', description: 'Verify and check every destination, print what would be done, write nothing' },
    force: { type: 'boolean', description: 'Replace files that exist; re-register records the registry already has' },
    only: { type: 'string', description: `Restore only these parts: ${PARTS.join(', ')} (comma-separated)`, valueName: 'parts' },
    into: { type: 'string', description: 'Everything under one folder: config/, registry/ (a registry --data-dir), router/ (a router --data-dir)', valueName: 'dir' },
    'config-dir': { type: 'string', description: 'Configuration files into this folder instead of where they came from', valueName: 'dir' },
    config: { type: 'string', short: 'c', description: 'Where the routing file goes', valueName: 'file' },
    'keys-file': { type: 'string', description: 'Where the keys file goes', valueName: 'file' },
    'registry-data-dir': { type: 'string', description: "Write the registry's records as the snapshot of a stopped registry in this folder", valueName: 'dir' },
    'registry-url': { type: 'string', description: 'Re-register the records in this running registry', valueName: 'url' },
    'registry-token': { type: 'string', description: "The registry's token for writes (or SWITCHBOARD_TOKEN)", valueName: 'token' },
    'data-dir': { type: 'string', description: "Write usage.db into this router data directory (the router must be stopped)", valueName: 'dir' },
    'usage-db': { type: 'string', description: 'Load the usage rows into this database instead: postgres://… or a SQLite file (may be in use)', valueName: 'url' },
    json: { type: 'boolean', description: 'Print the result as JSON' },
  },
  examples: [
    'switchboard restore /var/backups/switchboard/20260131-020000.tar.gz --dry-run',
    'switchboard restore backup.tar.gz --into /tmp/restored',
    'switchboard restore backup.tar.gz --only registry --registry-url http://127.0.0.1:8081',
    'switchboard restore backup.tar.gz --only usage --usage-db postgres://switchboard@db/switchboard',
  ],
  async run(ctx) {
    const v = ctx.values;
    const backup = ctx.positionals[0];
    if (!backup) throw sbError('SB_ERR_USAGE', 'give the backup to restore: a folder or a .tar.gz written by switchboard backup');
    if (ctx.positionals.length > 1) throw sbError('SB_ERR_USAGE', `unexpected argument '${ctx.positionals[1]}'`);
    const only = boolFlag(v, 'list') ? [] : parseOnly(listFlag(v, 'only'));
    try {
      const res = await restoreBackup({
        backup,
        force: boolFlag(v, 'force') ?? false,
        dryRun: (boolFlag(v, 'dry-run') ?? false) || (boolFlag(v, 'list') ?? false),
        only,
        into: stringFlag(v, 'into'),
        configDir: stringFlag(v, 'config-dir'),
        routingFile: stringFlag(v, 'config'),
        keysFile: stringFlag(v, 'keys-file'),
        registryDataDir: stringFlag(v, 'registry-data-dir'),
        registryUrl: stringFlag(v, 'registry-url'),
        registryToken: stringFlag(v, 'registry-token') ?? (ctx.env.SWITCHBOARD_TOKEN || undefined),
        dataDir: stringFlag(v, 'data-dir'),
        usageDb: stringFlag(v, 'usage-db'),
        clock: systemClock,
      });
      if (boolFlag(v, 'json')) {
        ctx.stdout.write(`${JSON.stringify({ ...res, usage: res.usage && { ...res.usage, target: describeDb(res.usage.target) } }, null, 2)}\n`);
      } else if (boolFlag(v, 'list')) {
        const m = res.manifest;
        ctx.stdout.write(`Backup of ${m.createdAt} (switchboard ${m.switchboard} on ${m.hostname}): ${plural(m.files.length, 'file')}, checksums verified.\n`);
        ctx.stdout.write(manifestTable(m));
      } else {
        ctx.stdout.write(report(res));
      }
      return 0;
    } catch (err) {
      if (!isSwitchboardError(err) || err.code === 'SB_ERR_USAGE') throw err;
      ctx.stderr.write(`switchboard restore: ${err.message} [${err.code}]\n`);
      return 1;
    }
  },
};
