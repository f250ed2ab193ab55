// Writes a generated file all at once (core's replaceFileSync: temporary file beside the target,
// fsync, rename(2)). A reader (an engine starting, `nginx -s reload`) sees the old file or the
// new one, never half of one, and a failed run leaves the old file alone. The new file's mode is
// left to the umask, as for any file a command writes.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError, replaceFileSync, sbErrorFrom } from '../core/index.js';

export function writeFileAtomic(path: string, text: string): void {
  try {
    replaceFileSync(path, text, 0o666);
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_OUTPUT_WRITE', path, describeError(err));
  }
}

/** A new file name in the OS temp dir (like Python's NamedTemporaryFile(suffix=...)). */
export function tempOutputPath(suffix: string): string {
  return join(tmpdir(), `tmp${randomBytes(6).toString('hex')}${suffix}`);
}
