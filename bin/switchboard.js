#!/usr/bin/env -S node --single-threaded-gc --max-inlined-bytecode-size=2000 --max-inlined-bytecode-size-cumulative=8000 --max-inlined-bytecode-size-absolute=10000
// Launcher: runs the compiled CLI. `npm install` builds dist/ through the `prepare` script. The
// shebang's flags are core's NODE_FLAGS (why: src/core/process.ts); `node bin/switchboard.js`
// runs without them.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('switchboard: dist/ is missing; run `npm install` (or `npm run build`) in the package folder first.\n');
  process.exit(1);
}
await import(main.href);
