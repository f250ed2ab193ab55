// Writes a generated file all at once: to a temporary file beside the target, then rename(2),
// which replaces the target atomically on POSIX. A reader (an engine starting, `nginx -s
// reload`) sees the old file or the new one, never half of one, and a failed run leaves the
// old file alone.
import process from 'node:process';
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describeError, sbErrorFrom } from '../core/index.js';

export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw sbErrorFrom(err, 'SB_ERR_OUTPUT_WRITE', path, describeError(err));
  }
}

/** A new file name in the OS temp dir (like Python's NamedTemporaryFile(suffix=...)). */
export function tempOutputPath(suffix: string): string {
  return join(tmpdir(), `tmp${randomBytes(6).toString('hex')}${suffix}`);
}
