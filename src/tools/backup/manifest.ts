// The backup's table of contents: manifest.json at the top of every backup (a folder or a
// .tar.gz), naming each file, what it is, where it came from, its size and its SHA-256. Restore
// trusts nothing in a backup that the manifest does not vouch for.
import process from 'node:process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../../core/index.js';

export const MANIFEST_FILE = 'manifest.json';
export const BACKUP_FORMAT = 'switchboard-backup';
export const BACKUP_VERSION = 1;

export const FILE_KINDS = [
  'routing', // the router's routing file (--config)
  'keys', // the API keys file (--keys-file / keysFile)
  'agent', // an agent's TOML (--config-file)
  'agent-models', // an agent's model snapshot (models registered through its API; may hold tokens)
  'fleet', // a fleet file (switchboard up / fleet)
  'config', // any other file a process reads (static services, an engine's config file, --file)
  'registry-snapshot', // the memory store's registry-snapshot.json
  'registry-export', // GET /services of a running registry
  'usage-sqlite', // an online copy of the router's SQLite usage.db
  'usage-export', // usage_records exported from PostgreSQL, JSON lines
  'usage-spool', // rows still in the router's spool, JSON lines
] as const;
export type FileKind = (typeof FILE_KINDS)[number];

/** Which `restore --only` part a kind belongs to. */
export const PART_OF: Record<FileKind, 'config' | 'registry' | 'usage'> = {
  routing: 'config',
  keys: 'config',
  agent: 'config',
  'agent-models': 'config',
  fleet: 'config',
  config: 'config',
  'registry-snapshot': 'registry',
  'registry-export': 'registry',
  'usage-sqlite': 'usage',
  'usage-export': 'usage',
  'usage-spool': 'usage',
};
export const PARTS = ['config', 'registry', 'usage'] as const;
export type Part = (typeof PARTS)[number];

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in hex');

export const manifestFileSchema = z.strictObject({
  path: z.string().min(1),
  kind: z.enum(FILE_KINDS),
  /** Where it came from: an absolute path, or a URL without its password. */
  source: z.string().min(1),
  bytes: z.number().int().min(0),
  sha256: sha256Hex,
  /** Registry records in it (registry kinds). */
  services: z.number().int().min(0).optional(),
  /** Usage rows in it (usage kinds). */
  rows: z.number().int().min(0).optional(),
});
export type ManifestFile = z.infer<typeof manifestFileSchema>;

export const manifestSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(BACKUP_VERSION),
  switchboard: z.string(),
  node: z.string(),
  hostname: z.string(),
  createdAt: z.string(),
  files: z.array(manifestFileSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

export function switchboardVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export function newManifest(createdAt: Date, files: ManifestFile[]): Manifest {
  return { format: BACKUP_FORMAT, version: BACKUP_VERSION, switchboard: switchboardVersion(), node: process.version, hostname: hostname(), createdAt: createdAt.toISOString(), files };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under dir, relative, posix separators (symlinks are reported as such). */
export function listFiles(dir: string): { files: string[]; others: string[] } {
  const files: string[] = [];
  const others: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p).split(sep).join('/');
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(rel);
      else others.push(e.isSymbolicLink() ? `${rel} -> ${readlinkSync(p)}` : rel);
    }
  };
  walk(dir);
  return { files: files.sort(), others };
}

/**
 * Checks a backup laid out in `dir` against its manifest: the manifest parses, every file it
 * lists is there with its size and SHA-256, and nothing else is. Returns the problems found
 * (empty: the backup is whole), or throws when there is no readable manifest at all.
 */
export async function verifyLayout(dir: string): Promise<{ manifest: Manifest; problems: string[] }> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `no ${MANIFEST_FILE} (not a switchboard backup)` : `${MANIFEST_FILE} is not valid JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${MANIFEST_FILE}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const manifest = parsed.data;
  const problems: string[] = [];
  const listed = new Set<string>();
  for (const f of manifest.files) {
    if (listed.has(f.path)) problems.push(`${f.path}: listed twice in the manifest`);
    listed.add(f.path);
    if (f.path.startsWith('/') || f.path.split('/').some((p) => p === '..' || p === '' || p === '.')) {
      problems.push(`${f.path}: not a safe relative path`);
      continue;
    }
    const st = statSync(join(dir, f.path), { throwIfNoEntry: false });
    if (!st?.isFile()) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    if (st.size !== f.bytes) {
      problems.push(`${f.path}: ${st.size} bytes, the manifest says ${f.bytes}`);
      continue;
    }
    const sum = await sha256File(join(dir, f.path));
    if (sum !== f.sha256) problems.push(`${f.path}: checksum mismatch (sha256 ${sum.slice(0, 12)}…, the manifest says ${f.sha256.slice(0, 12)}…)`);
  }
  const { files, others } = listFiles(dir);
  for (const f of files) if (f !== MANIFEST_FILE && !listed.has(f)) problems.push(`${f}: not in the manifest`);
  for (const o of others) problems.push(`${o}: not a regular file`);
  return { manifest, problems };
}
