// Reloading the keys file while the router runs (the seed's router re-read auth.yaml on an
// interval). The file is polled with stat(2) rather than fs.watch: `switchboard keys` and most
// editors replace the file by rename, which an fs.watch on the old inode never reports. A file
// that fails to load is rejected with one log line and the previous ring stays in force.
import { statSync } from 'node:fs';
import { describeError, isSwitchboardError, silentLogger, systemClock, type Clock, type Logger, type TimerHandle } from '../core/index.js';
import { KeyRing } from './keys.js';

/** Reads and validates the keys file into a new ring; throws SB_ERR_KEYS_FILE naming the problem. */
export function loadKeyRing(path: string): KeyRing {
  return KeyRing.fromFile(path);
}

export interface KeysWatcherOptions {
  path: string;
  /** How often the file's stat is checked; 0 turns polling off (reload() only). Default 2000. */
  intervalMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Called with the new ring after each successful reload. */
  onReload?: (ring: KeyRing) => void;
}

function fingerprint(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

export class KeysWatcher {
  readonly #opts: KeysWatcherOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #ring: KeyRing;
  #seen: string;
  #timer: TimerHandle | undefined;
  #closed = false;
  #reloads = 0;
  #rejected = 0;

  private constructor(opts: KeysWatcherOptions, ring: KeyRing, seen: string) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
    this.#ring = ring;
    this.#seen = seen;
  }

  /** Loads the file (throws SB_ERR_KEYS_FILE if it is bad: the router must not start) and starts polling. */
  static start(opts: KeysWatcherOptions): KeysWatcher {
    const seen = fingerprint(opts.path);
    const w = new KeysWatcher(opts, loadKeyRing(opts.path), seen);
    w.#log.info({ file: opts.path, keys: w.#ring.size }, 'api keys loaded');
    w.#schedule();
    return w;
  }

  /** The ring in force. Read it per request; it is replaced whole on reload. */
  current(): KeyRing {
    return this.#ring;
  }

  /** Successful reloads and rejected files since start (for metrics). */
  stats(): { reloads: number; rejected: number; keys: number } {
    return { reloads: this.#reloads, rejected: this.#rejected, keys: this.#ring.size };
  }

  /**
   * Re-reads the file now (an admin reload). On success swaps the ring and returns it; on
   * failure logs, keeps the old ring and throws the SB_ERR_KEYS_FILE error.
   */
  reload(): KeyRing {
    this.#seen = fingerprint(this.#opts.path);
    let next: KeyRing;
    try {
      next = loadKeyRing(this.#opts.path);
    } catch (err) {
      this.#rejected++;
      this.#log.error(
        { file: this.#opts.path, code: isSwitchboardError(err) ? err.code : undefined, err: describeError(err), keptKeys: this.#ring.size },
        'api keys file rejected; keeping the previous keys',
      );
      throw err;
    }
    const before = new Map(this.#ring.list().map((k) => [k.name, k]));
    const after = next.list();
    const added = after.filter((k) => !before.has(k.name)).map((k) => k.name);
    const revoked = after.filter((k) => k.revoked && before.get(k.name)?.revoked === false).map((k) => k.name);
    const names = new Set(after.map((k) => k.name));
    const removed = [...before.keys()].filter((n) => !names.has(n));
    this.#ring = next;
    this.#reloads++;
    // names only: a key or its hash never reaches a log line
    this.#log.info({ file: this.#opts.path, keys: next.size, added, revoked, removed }, 'api keys reloaded');
    this.#opts.onReload?.(next);
    return next;
  }

  /** One poll: reloads when the file changed. Never throws; returns whether a new ring is in force. */
  check(): boolean {
    const fp = fingerprint(this.#opts.path);
    if (fp === this.#seen) return false;
    try {
      this.reload();
      return true;
    } catch {
      return false; // logged by reload(); the same bad file is not retried until it changes again
    }
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  #schedule(): void {
    const every = this.#opts.intervalMs ?? 2000;
    if (this.#closed || every <= 0) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.check();
      this.#schedule();
    }, every);
  }
}
