// Locations of files shipped with the package (templates, dashboard assets), found from this
// module's own URL so they resolve the same from src/ (tests), dist/ and an installed package.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('switchboard: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  root = dir;
  return dir;
}

/** A file under the package's assets/ folder. */
export function assetPath(...parts: string[]): string {
  return join(packageRoot(), 'assets', ...parts);
}
