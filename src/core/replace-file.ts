// Replaces a file all at once: a temporary file in the same folder, written and fsynced, then
// rename(2) over the old one. A reader (an engine starting, `nginx -s reload`, a router reloading
// its keys) sees the old file or the new one, never half of one; a crash or a failed write leaves
// the previous file whole and no temporary file. `mode` applies to the new file (0o600, the
// default, for files that may hold secrets; 0o666 lets the umask decide, as for generated configs).
// One async form for processes (state snapshots) and one sync form for CLI commands.
import process from 'node:process';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A temporary name beside `path`, hidden (so `*.conf` includes and listings skip it) and unique. */
function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export async function replaceFile(path: string, text: string, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempBeside(path);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** replaceFile for CLI commands, which have nothing else to do meanwhile; the folder must exist. */
export function replaceFileSync(path: string, text: string, mode = 0o600): void {
  const tmp = tempBeside(path);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
