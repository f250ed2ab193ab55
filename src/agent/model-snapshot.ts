// Models registered through the management API survive a restart, as TorchServe's model snapshot
// does: after every change (register, scale, unregister) the agent writes those models (name,
// backend, metadata, min/max workers) to `models_file` (default `<log_dir>/models.json`), and at
// start it registers them again after the config file's engine. The config file's engine is never
// in the file: the config stays its source.
//
// Writes are whole-file and atomic (core's replaceFile), one at a time in order, mode 600 (a
// backend's `env` may hold tokens). A file that cannot be read or is not a snapshot is moved aside
// (`<file>.bad-<time>`) and logged, and the agent starts with its configured engine only; an entry
// that is no longer valid (e.g. a field this version refuses) is logged and skipped, the others
// are registered.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { describeError, replaceFile, type Logger } from '../core/index.js';
import { parseBackend } from './config.js';
import type { GroupSpec } from './engines.js';

const VERSION = 1;

/** A model as the snapshot keeps it: what registering it again needs. */
export type SavedModel = Omit<GroupSpec, 'primary'>;

interface SnapshotFile {
  version: number;
  models: unknown[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One entry back to a model, or the reason it is refused. */
function parseEntry(e: unknown): SavedModel | string {
  if (!isObject(e)) return 'not an object';
  if (typeof e.name !== 'string' || e.name === '') return 'no name';
  const parsed = parseBackend(e.backend);
  if ('field' in parsed) return `${parsed.field}: ${parsed.message}`;
  const metadata = e.metadata ?? {};
  if (!isObject(metadata)) return 'metadata is not an object';
  // their range is the fleet's to check (as for the API): a bad one is logged as not registered
  const { minWorkers, maxWorkers } = e;
  if (typeof minWorkers !== 'number' || typeof maxWorkers !== 'number') return 'minWorkers and maxWorkers must be numbers';
  return { name: e.name, backend: parsed.backend, metadata, minWorkers, maxWorkers };
}

export class ModelSnapshot {
  readonly path: string;
  readonly #log: Logger;
  #writes: Promise<void> = Promise.resolve();

  constructor(path: string, logger: Logger) {
    this.path = path;
    this.#log = logger;
  }

  /** The saved models; [] when there is no file (or it was unusable, then moved aside). */
  load(): SavedModel[] {
    if (!existsSync(this.path)) return [];
    let file: SnapshotFile;
    try {
      const v: unknown = JSON.parse(readFileSync(this.path, 'utf8'));
      if (!isObject(v) || v.version !== VERSION || !Array.isArray(v.models)) throw new Error(`not a version ${VERSION} model snapshot`);
      file = v as unknown as SnapshotFile;
    } catch (err) {
      const aside = `${this.path}.bad-${Date.now()}`;
      let moved = false;
      try {
        renameSync(this.path, aside);
        moved = true;
      } catch {
        // left where it is; the next save replaces it
      }
      this.#log.error({ file: this.path, err: describeError(err), movedTo: moved ? aside : null }, 'model snapshot unreadable: starting with the configured engine only');
      return [];
    }
    const out: SavedModel[] = [];
    file.models.forEach((e, i) => {
      const m = parseEntry(e);
      if (typeof m === 'string') this.#log.error({ file: this.path, entry: i, name: isObject(e) ? e.name : undefined, reason: m }, 'model snapshot: entry skipped');
      else out.push(m);
    });
    return out;
  }

  /** Replaces the file with these models (queued behind earlier saves); failures are logged, never thrown. */
  save(models: readonly SavedModel[]): Promise<void> {
    const body = `${JSON.stringify({ version: VERSION, models: models.map((m) => ({ name: m.name, backend: m.backend, metadata: m.metadata, minWorkers: m.minWorkers, maxWorkers: m.maxWorkers })) }, null, 2)}\n`;
    this.#writes = this.#writes.then(async () => {
      try {
        await replaceFile(this.path, body, 0o600);
      } catch (err) {
        this.#log.error({ file: this.path, err: describeError(err) }, 'model snapshot not saved: models registered through the API will not come back after a restart');
      }
    });
    return this.#writes;
  }
}
