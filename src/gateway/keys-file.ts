// The API keys file (the MAAS router's `auth.yaml`, extended): one entry per key, stored as the
// SHA-256 of the key so that a leaked file leaks no key. Read by the router (and re-read on
// change), written only by `switchboard keys`, which edits the YAML document in place (comments
// kept) and replaces the file atomically with mode 0600 (core's replaceFileSync).
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { closestKey, describeError, replaceFileSync, sbError, sbErrorFrom } from '../core/index.js';

/** Every key Switchboard issues starts with this, so a leaked one is recognisable (secret scanners). */
export const KEY_PREFIX = 'sk-sb-';
const HEX64 = /^[0-9a-f]{64}$/;

const limitsSchema = z.strictObject({
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
});

const entrySchema = z.strictObject({
  name: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:@/-]+$/, 'letters, digits and . _ : @ / - only'),
  tenant: z.string().min(1).max(128).optional(),
  sha256: z.string().regex(HEX64, 'expected the SHA-256 of the key as 64 lowercase hex digits'),
  /** The key's first and last characters, for people to tell keys apart (`sk-sb-…x9Qa`). */
  hint: z.string().max(32).optional(),
  models: z.union([z.literal('*'), z.array(z.string().min(1)).min(1)]).default('*'),
  limits: limitsSchema.default({}),
  created_at: z.string().min(1).optional(),
  revoked: z.boolean().default(false),
  revoked_at: z.string().min(1).optional(),
});

const fileSchema = z.strictObject({
  version: z.literal(1).default(1),
  keys: z.array(entrySchema).default([]),
});

export type KeyEntry = z.output<typeof entrySchema>;
export type KeysFile = z.output<typeof fileSchema>;
export type KeyLimits = z.output<typeof limitsSchema>;

const ENTRY_KEYS = Object.keys(entrySchema.shape);

/** sha256 hex of a presented key. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new random key: the prefix and 32 random bytes in base64url (256 bits). */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function keyHint(key: string): string {
  return `${key.slice(0, KEY_PREFIX.length)}…${key.slice(-4)}`;
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') || '(top level)';
}

/** Validates a parsed keys file; throws SB_ERR_KEYS_FILE naming the entry and the problem. */
export function parseKeysFile(value: unknown, file: string): KeysFile {
  const raw = value ?? {};
  // A plaintext `key:` is the commonest mistake (the seed's file held keys in clear): say what to do.
  if (typeof raw === 'object' && raw !== null && Array.isArray((raw as { keys?: unknown }).keys)) {
    const entries = (raw as { keys: unknown[] }).keys;
    entries.forEach((e, i) => {
      if (e && typeof e === 'object' && 'key' in e) {
        throw sbError('SB_ERR_KEYS_FILE', file, `keys[${i}].key: plaintext keys are not accepted; store 'sha256: <hex>' instead (switchboard keys create writes it; or printf %s "$KEY" | sha256sum)`);
      }
    });
  }
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    const detail = r.error.issues
      .map((issue) => {
        if (issue.code === 'unrecognized_keys') {
          const inEntry = issue.path.length === 2;
          return issue.keys
            .map((k) => {
              const hint = inEntry ? closestKey(k, ENTRY_KEYS) : closestKey(k, ['version', 'keys']);
              return `${issuePath(issue.path)}: unknown key '${k}'${hint ? ` (did you mean '${hint}'?)` : ''}`;
            })
            .join('; ');
        }
        return `${issuePath(issue.path)}: ${issue.message}`;
      })
      .join('; ');
    throw sbError('SB_ERR_KEYS_FILE', file, detail);
  }
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  r.data.keys.forEach((k, i) => {
    const n = names.get(k.name);
    if (n !== undefined) throw sbError('SB_ERR_KEYS_FILE', file, `keys[${i}].name: '${k.name}' is also the name of keys[${n}]; names must be unique`);
    names.set(k.name, i);
    const h = hashes.get(k.sha256);
    if (h !== undefined) throw sbError('SB_ERR_KEYS_FILE', file, `keys[${i}].sha256: the same key as keys[${h}] ('${r.data.keys[h]!.name}')`);
    hashes.set(k.sha256, i);
  });
  return r.data;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw sbErrorFrom(err, 'SB_ERR_KEYS_FILE', file, code === 'ENOENT' ? 'no such file (switchboard keys create --file … makes one)' : describeError(err));
  }
}

function parseYamlDocument(text: string, file: string): Document {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) throw sbError('SB_ERR_KEYS_FILE', file, `not valid YAML: ${doc.errors[0]!.message}`);
  return doc;
}

/** Reads and validates a keys file; throws SB_ERR_KEYS_FILE. */
export function readKeysFile(file: string): KeysFile {
  return parseKeysFile(parseYamlDocument(readText(file), file).toJS(), file);
}

// ------------------------------------------------------------------ writing (the CLI)

const HEADER = [
  ' Switchboard API keys. Managed with `switchboard keys create|list|revoke`; format in',
  ' docs/configuration.md ("API keys and rate limits"). Keys are stored as SHA-256 hashes only.',
].join('\n');

/** Writes the keys file atomically (core's replaceFileSync) with mode 0600. */
function writeKeysFile(path: string, text: string): void {
  try {
    replaceFileSync(path, text, 0o600);
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_KEYS_FILE', path, `cannot write: ${describeError(err)}`);
  }
}

/**
 * Runs fn holding `<file>.lock` (created exclusively), so two `keys` commands at once cannot
 * lose each other's change. A lock older than staleMs is from a crashed run and is taken over.
 */
export async function withKeysFileLock<T>(file: string, fn: () => T, timeoutMs = 5000, staleMs = 30_000): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw sbErrorFrom(err, 'SB_ERR_KEYS_FILE', file, `cannot lock: ${describeError(err)}`);
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleMs) rmSync(lock, { force: true });
      } catch {
        // gone meanwhile: retry at once
      }
      if (Date.now() > deadline) throw sbError('SB_ERR_KEYS_FILE', file, `locked by another process (${lock}); try again, or remove the lock file if no keys command is running`);
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** The file's YAML document, or a new one (with a header comment) when it does not exist. */
function loadDocument(file: string): Document {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw sbErrorFrom(err, 'SB_ERR_KEYS_FILE', file, describeError(err));
    const doc = parseDocument('version: 1\nkeys: []\n');
    doc.commentBefore = HEADER;
    return doc;
  }
  const doc = parseYamlDocument(text, file);
  parseKeysFile(doc.toJS(), file); // refuse to edit a file the router would reject
  if (!isMap(doc.contents)) return parseDocument('version: 1\nkeys: []\n');
  if (!isSeq(doc.get('keys'))) doc.set('keys', doc.createNode([]));
  return doc;
}

export interface NewKeyInput {
  name: string;
  tenant?: string;
  models?: '*' | string[];
  limits?: KeyLimits;
  nowIso: string;
}

/** Adds a new key to the file and returns the key itself (shown once, never stored). */
export async function createKeyInFile(file: string, input: NewKeyInput): Promise<{ key: string; entry: KeyEntry }> {
  return withKeysFileLock(file, () => {
    const doc = loadDocument(file);
    const current = parseKeysFile(doc.toJS(), file);
    if (current.keys.some((k) => k.name === input.name)) {
      throw sbError('SB_ERR_KEYS_FILE', file, `a key named '${input.name}' exists already (revoke it, or choose another name)`);
    }
    const key = generateKey();
    const raw: Record<string, unknown> = { name: input.name };
    if (input.tenant) raw.tenant = input.tenant;
    raw.sha256 = hashKey(key);
    raw.hint = keyHint(key);
    raw.models = input.models ?? '*';
    const limits: Record<string, number> = {};
    if (input.limits?.rpm) limits.rpm = input.limits.rpm;
    if (input.limits?.tpm) limits.tpm = input.limits.tpm;
    if (Object.keys(limits).length > 0) raw.limits = limits;
    raw.created_at = input.nowIso;
    raw.revoked = false;
    const node = doc.createNode(raw);
    const limitsNode = node.get('limits', true);
    if (isMap(limitsNode)) limitsNode.flow = true;
    const modelsNode = node.get('models', true);
    if (isSeq(modelsNode)) modelsNode.flow = true;
    doc.addIn(['keys'], node);
    const seq = doc.get('keys');
    if (isSeq(seq)) seq.flow = false;
    const text = doc.toString();
    const entry = parseKeysFile(parseDocument(text).toJS(), file).keys.find((k) => k.name === input.name)!;
    writeKeysFile(file, text);
    return { key, entry };
  });
}

/** Marks a key revoked (kept in the file, so its name stays taken and the history readable). */
export async function revokeKeyInFile(file: string, name: string, nowIso: string): Promise<{ alreadyRevoked: boolean }> {
  return withKeysFileLock(file, () => {
    readText(file);
    const doc = loadDocument(file);
    const current = parseKeysFile(doc.toJS(), file);
    const i = current.keys.findIndex((k) => k.name === name);
    if (i < 0) throw sbError('SB_ERR_KEY_NOT_FOUND', file, name);
    if (current.keys[i]!.revoked) return { alreadyRevoked: true };
    doc.setIn(['keys', i, 'revoked'], true);
    doc.setIn(['keys', i, 'revoked_at'], nowIso);
    writeKeysFile(file, doc.toString());
    return { alreadyRevoked: false };
  });
}
