// `switchboard backup`: everything needed to rebuild a node, in one folder or one .tar.gz with a
// manifest. Built in a scratch folder beside the destination and renamed into place at the end,
// so a failed or interrupted backup leaves no half-written backup under the name given.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describeError, isSwitchboardError, sbError, sbErrorFrom, type Clock } from '../../core/index.js';
import { MANIFEST_FILE, newManifest, sha256File, type Manifest, type ManifestFile } from './manifest.js';
import { exportRegistry, readSnapshot } from './registry-data.js';
import { backupPaths, collectSources, itemSource, type BackupSources, type SourceItem } from './sources.js';
import { writeTarGz } from './tar.js';
import { copySqliteOnline, countJsonRows, exportPostgres } from './usage-data.js';

export interface BackupOptions extends BackupSources {
  /** A folder to create, or a file ending in .tar.gz / .tgz. */
  out: string;
  /** Replace an existing backup at `out`. */
  force?: boolean;
  clock: Clock;
}

export interface BackupResult {
  out: string;
  archive: boolean;
  manifest: Manifest;
  /** Bytes of the archive, or of the files in the folder. */
  bytes: number;
}

export function isArchivePath(path: string): boolean {
  return /\.(tar\.gz|tgz)$/i.test(path);
}

/** Takes one item into `dest` (a new file); returns its counts for the manifest. */
async function take(it: SourceItem, dest: string, nowMs: number): Promise<{ services?: number; rows?: number }> {
  switch (it.kind) {
    case 'routing':
    case 'keys':
    case 'agent':
    case 'agent-models':
    case 'fleet':
    case 'config':
      copyFileSync(it.file, dest);
      return {};
    case 'registry-snapshot': {
      // read once and checked: the registry rewrites this file atomically, so one read is whole
      const snap = readSnapshot(dirname(it.file));
      writeFileSync(dest, snap.text, { flag: 'wx', mode: 0o600 });
      return { services: snap.services };
    }
    case 'registry-export': {
      const exp = await exportRegistry(it.url, nowMs);
      writeFileSync(dest, exp.text, { flag: 'wx', mode: 0o600 });
      return { services: exp.services };
    }
    case 'usage-sqlite':
      return { rows: await copySqliteOnline(it.file, dest) };
    case 'usage-export':
      return { rows: await exportPostgres(it.url, dest) };
    case 'usage-spool':
      // the router appends whole lines; a line cut by the copy is not a row and is skipped on restore
      copyFileSync(it.file, dest);
      return { rows: await countJsonRows(dest) };
  }
}

export async function createBackup(opts: BackupOptions): Promise<BackupResult> {
  const out = resolve(opts.out);
  const archive = isArchivePath(out);
  if (existsSync(out) && !opts.force) throw sbError('SB_ERR_BACKUP_EXISTS', out);
  if (existsSync(out) && statSync(out).isDirectory() === archive) {
    throw sbError('SB_ERR_BACKUP_EXISTS', out, archive ? 'it is a folder, not an archive' : 'it is a file, not a backup folder');
  }
  const items = collectSources(opts);
  if (items.length === 0) {
    throw sbError('SB_ERR_USAGE', 'nothing to back up: give --config, --keys-file, --agent-config, --fleet, --file, --registry-data-dir, --registry-url, --data-dir or --usage-db');
  }
  const paths = backupPaths(items);
  const now = new Date(opts.clock.now());
  mkdirSync(dirname(out), { recursive: true });
  const stage = mkdtempSync(join(dirname(out), `.${basename(out)}.partial-`));
  let tmpArchive: string | undefined;
  try {
    const files: ManifestFile[] = [];
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      const rel = paths[i]!;
      const dest = join(stage, rel);
      mkdirSync(dirname(dest), { recursive: true });
      let counts: { services?: number; rows?: number };
      try {
        counts = await take(it, dest, now.getTime());
      } catch (err) {
        if (isSwitchboardError(err)) throw err;
        throw sbErrorFrom(err, 'SB_ERR_BACKUP_SOURCE', `${it.why} (${itemSource(it)})`, describeError(err));
      }
      files.push({ path: rel, kind: it.kind, source: itemSource(it), bytes: statSync(dest).size, sha256: await sha256File(dest), ...counts });
    }
    const manifest = newManifest(now, files);
    writeFileSync(join(stage, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    let bytes: number;
    if (archive) {
      tmpArchive = `${stage}.tar.gz`;
      await writeTarGz(
        [MANIFEST_FILE, ...files.map((f) => f.path)].map((name) => {
          const file = join(stage, name);
          const st = statSync(file);
          return { name, file, size: st.size, mtimeMs: st.mtimeMs };
        }),
        tmpArchive,
      );
      renameSync(tmpArchive, out);
      tmpArchive = undefined;
      bytes = statSync(out).size;
    } else {
      if (existsSync(out)) {
        // --force on a folder: the old one is moved aside first and removed once the new one is in place
        const old = `${stage}.old`;
        renameSync(out, old);
        try {
          renameSync(stage, out);
        } catch (err) {
          renameSync(old, out);
          throw err;
        }
        rmSync(old, { recursive: true, force: true });
      } else {
        renameSync(stage, out);
      }
      bytes = files.reduce((n, f) => n + f.bytes, 0);
    }
    return { out, archive, manifest, bytes };
  } catch (err) {
    if (isSwitchboardError(err)) throw err;
    throw sbErrorFrom(err, 'SB_ERR_OUTPUT_WRITE', out, describeError(err));
  } finally {
    rmSync(stage, { recursive: true, force: true });
    if (tmpArchive) rmSync(tmpArchive, { force: true });
  }
}
