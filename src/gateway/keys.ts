// API keys on the request path: the presented key is hashed, the hash looked up, and the stored
// hash compared with timingSafeEqual, so the time taken says nothing about how much of a key
// was right. Unknown keys go through the same compare against a dummy hash. A KeyRing is
// immutable: a reload builds a new one and swaps it in whole.
import { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import { sbError, type SwitchboardError } from '../core/index.js';
import { readKeysFile, type KeyEntry, type KeysFile } from './keys-file.js';

/** What the router knows about an authenticated caller. Never holds the key or its hash. */
export interface ApiKeyInfo {
  readonly name: string;
  readonly tenant: string | undefined;
  /** "*" (every model) or the model names (a trailing `*` matches a prefix: `qwen-*`). */
  readonly models: '*' | readonly string[];
  /** The key's own limits; unset fields fall back to the rate-limit config. */
  readonly limits: { readonly rpm?: number; readonly tpm?: number };
  readonly createdAt: string | undefined;
  readonly revoked: boolean;
}

interface Slot {
  readonly hash: Buffer;
  readonly info: ApiKeyInfo;
  readonly exact: ReadonlySet<string> | undefined;
  readonly prefixes: readonly string[];
  readonly all: boolean;
}

/** Longer than any key we issue by far; longer input is refused before hashing. */
const MAX_KEY_LENGTH = 512;
/** Presented keys whose digests are remembered; the map starts over when full. */
const DIGEST_CACHE = 10_000;
const DUMMY_HASH = createHash('sha256').update('switchboard: no such key').digest();

export type CompareFn = (a: Buffer, b: Buffer) => boolean;

function toInfo(e: KeyEntry): ApiKeyInfo {
  const limits: { rpm?: number; tpm?: number } = {};
  if (e.limits.rpm !== undefined) limits.rpm = e.limits.rpm;
  if (e.limits.tpm !== undefined) limits.tpm = e.limits.tpm;
  return Object.freeze({
    name: e.name,
    tenant: e.tenant,
    models: e.models === '*' ? '*' : Object.freeze([...e.models]),
    limits: Object.freeze(limits),
    createdAt: e.created_at,
    revoked: e.revoked,
  });
}

export class KeyRing {
  /** hex sha256 -> slot */
  readonly #byHash = new Map<string, Slot>();
  readonly #byName = new Map<string, Slot>();
  readonly #digests = new Map<string, { digest: Buffer; hex: string }>();
  readonly #compare: CompareFn;

  /** `compare` is for tests that check every path goes through one fixed-length compare. */
  constructor(file: KeysFile, compare: CompareFn = timingSafeEqual) {
    this.#compare = compare;
    for (const e of file.keys) {
      const models = e.models === '*' ? ['*'] : e.models;
      const all = models.includes('*');
      const slot: Slot = {
        hash: Buffer.from(e.sha256, 'hex'),
        info: toInfo(e),
        all,
        exact: all ? undefined : new Set(models.filter((m) => !m.endsWith('*'))),
        prefixes: all ? [] : models.filter((m) => m.endsWith('*')).map((m) => m.slice(0, -1)),
      };
      this.#byHash.set(e.sha256, slot);
      this.#byName.set(e.name, slot);
    }
  }

  /** Reads and validates a keys file; throws SB_ERR_KEYS_FILE naming the problem. */
  static fromFile(path: string): KeyRing {
    return new KeyRing(readKeysFile(path));
  }

  /** Number of keys (revoked included). */
  get size(): number {
    return this.#byName.size;
  }

  /** Every key's info (names, tenants, limits; no hashes), in file order. */
  list(): ApiKeyInfo[] {
    return [...this.#byName.values()].map((s) => s.info);
  }

  byName(name: string): ApiKeyInfo | undefined {
    return this.#byName.get(name)?.info;
  }

  /** The key's info when the presented key is known and not revoked; otherwise undefined. */
  authenticate(presented: string): ApiKeyInfo | undefined {
    if (presented.length === 0 || presented.length > MAX_KEY_LENGTH) return undefined;
    let d = this.#digests.get(presented);
    if (!d) {
      const digest = createHash('sha256').update(presented).digest();
      d = { digest, hex: digest.toString('hex') };
      // the same few keys come again and again: their digests are remembered (never logged)
      if (this.#digests.size >= DIGEST_CACHE) this.#digests.clear();
      this.#digests.set(presented, d);
    }
    const digest = d.digest;
    const slot = this.#byHash.get(d.hex);
    // Same work whether or not the hash was found: one 32-byte constant-time compare.
    const ok = this.#compare(digest, slot ? slot.hash : DUMMY_HASH);
    if (!ok || !slot || slot.info.revoked) return undefined;
    return slot.info;
  }

  /** Whether the key may use `model` (the name the client asked for, before alias resolution). */
  allows(key: ApiKeyInfo, model: string): boolean {
    const slot = this.#byName.get(key.name);
    if (!slot || slot.info !== key) return allowsByInfo(key, model);
    if (slot.all) return true;
    if (slot.exact!.has(model)) return true;
    for (const p of slot.prefixes) if (model.startsWith(p)) return true;
    return false;
  }

  /**
   * The whole check for one request: the key from the headers, authenticated, allowed to use
   * the model. Throws SB_ERR_AUTH_MISSING / SB_ERR_AUTH_INVALID (401) or SB_ERR_MODEL_FORBIDDEN
   * (403). Pass model undefined to check only the key (e.g. GET /v1/models).
   */
  authorize(headers: KeyHeaders, model: string | undefined): ApiKeyInfo {
    const presented = presentedKey(headers);
    if (presented === undefined) throw sbError('SB_ERR_AUTH_MISSING');
    const info = this.authenticate(presented);
    if (!info) throw sbError('SB_ERR_AUTH_INVALID');
    if (model !== undefined && !this.allows(info, model)) throw modelForbidden(info, model);
    return info;
  }
}

function modelForbidden(info: ApiKeyInfo, model: string): SwitchboardError {
  return sbError('SB_ERR_MODEL_FORBIDDEN', info.name, model).withParam('model');
}

/** allows() for an info that is not from this ring (e.g. one kept across a reload). */
export function allowsByInfo(key: ApiKeyInfo, model: string): boolean {
  if (key.models === '*') return true;
  for (const m of key.models) {
    if (m === '*' || m === model || (m.endsWith('*') && model.startsWith(m.slice(0, -1)))) return true;
  }
  return false;
}

/**
 * The key a request presents: `Authorization: Bearer <key>` (OpenAI SDKs) or `x-api-key: <key>`
 * (Anthropic-style clients). Undefined when neither is there.
 */
/** The two headers a key can come in (node's IncomingHttpHeaders has them). */
export interface KeyHeaders {
  readonly authorization?: string | undefined;
  readonly 'x-api-key'?: string | string[] | undefined;
}

export function presentedKey(headers: KeyHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined && auth.length > 7 && auth.charCodeAt(6) === 32 && auth.slice(0, 6).toLowerCase() === 'bearer') {
    const k = auth.slice(7).trim();
    if (k) return k;
  }
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x.trim()) return x.trim();
  return undefined;
}
