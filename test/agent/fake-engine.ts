// A tiny engine for supervision tests: a real child process (node running a script written to a
// temp dir), told by its environment when to crash, whether to ignore SIGTERM, whether to ever
// become ready. It serves /v1/models like an OpenAI engine.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const SCRIPT = `
import { createServer } from 'node:http';
import { appendFileSync } from 'node:fs';
const e = process.env;
if (e.STARTS_FILE) appendFileSync(e.STARTS_FILE, process.pid + '\\n');
console.log('fake engine starting');
console.error('a line on stderr');
if (e.EXIT_AT_ONCE) process.exit(Number(e.EXIT_AT_ONCE));
if (e.IGNORE_SIGTERM) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const srv = createServer((req, res) => {
  if (req.url === '/v1/models' && !e.NEVER_READY) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-model', object: 'model' }] }));
  } else {
    res.statusCode = e.NEVER_READY ? 503 : 404;
    res.end();
  }
});
srv.listen(Number(e.PORT), '127.0.0.1', () => {
  console.log('listening on ' + e.PORT);
  if (e.CRASH_AFTER_MS) setTimeout(() => { console.error('boom'); process.exit(3); }, Number(e.CRASH_AFTER_MS));
});
`;

export interface FakeEngine {
  dir: string;
  script: string;
  startsFile: string;
  /** Pids of every start so far. */
  starts(): number[];
}

export function fakeEngine(t: TestContext): FakeEngine {
  const dir = mkdtempSync(join(tmpdir(), 'sb-fake-engine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'engine.mjs');
  writeFileSync(script, SCRIPT);
  const startsFile = join(dir, 'starts');
  writeFileSync(startsFile, '');
  return {
    dir,
    script,
    startsFile,
    starts: () => readFileSync(startsFile, 'utf8').split('\n').filter(Boolean).map(Number),
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
