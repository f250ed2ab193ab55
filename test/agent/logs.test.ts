import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { EngineLog } from '../../src/agent/logs.js';
import { ManualClock } from '../../src/core/index.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-agent-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ended = (s: PassThrough) => new Promise<void>((resolve) => s.end(() => setImmediate(resolve)));

describe('engine log files', () => {
  it('writes timestamped lines of both streams into a file named after the engine and its start', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 2, 4, 5, 6, 7, 890));
    const log = new EngineLog({ dir, name: 'node-a-server', maxBytes: 1 << 20, maxFiles: 5, clock });
    log.startRun();
    const out = new PassThrough();
    const err = new PassThrough();
    log.attach(out, 'stdout');
    log.attach(err, 'stderr');
    out.write('INFO: started\nhalf a ');
    err.write('WARNING: slow\r\n');
    out.write('line\n');
    out.write('no newline at the end');
    await ended(out);
    await ended(err);
    await log.close();
    assert.deepEqual(readdirSync(dir), ['node-a-server-20260304-050607.log']);
    assert.equal(
      readFileSync(join(dir, 'node-a-server-20260304-050607.log'), 'utf8'),
      [
        '2026-03-04T05:06:07.890Z stdout INFO: started',
        '2026-03-04T05:06:07.890Z stderr WARNING: slow',
        '2026-03-04T05:06:07.890Z stdout half a line',
        '2026-03-04T05:06:07.890Z stdout no newline at the end',
        '',
      ].join('\n'),
    );
    assert.deepEqual(log.tail().slice(-2), ['[stdout] half a line', '[stdout] no newline at the end']);
  });

  it('rotates by size and keeps only the newest files of that engine', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'other-engine-20200101-000000.log'), 'not ours\n');
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const log = new EngineLog({ dir, name: 'e', maxBytes: 1024, maxFiles: 3, clock });
    log.startRun();
    const out = new PassThrough();
    log.attach(out, 'stdout');
    for (let i = 0; i < 200; i++) {
      out.write(`line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}\n`);
      if (i % 20 === 0) await clock.advance(1000);
    }
    await ended(out);
    await log.close();
    const files = readdirSync(dir).filter((f) => f.startsWith('e-')).sort();
    assert.equal(files.length, 3, files.join(', '));
    assert.ok(readdirSync(dir).includes('other-engine-20200101-000000.log'), 'another engine\'s file is left alone');
    const text = files.map((f) => readFileSync(join(dir, f), 'utf8')).join('');
    assert.match(text, /stdout line 199 x+\n/, 'the newest lines survive');
    assert.doesNotMatch(text, /line 000 /, 'the oldest file was removed');
    for (const f of files) assert.ok(readFileSync(join(dir, f)).length <= 1024 + 100, `${f} stays near the size limit`);
  });

  it('starts a new file for each run of the engine', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const log = new EngineLog({ dir, name: 'e', maxBytes: 1 << 20, maxFiles: 5, clock });
    for (let run = 0; run < 2; run++) {
      log.startRun();
      const out = new PassThrough();
      log.attach(out, 'stdout');
      out.write(`run ${run}\n`);
      await ended(out);
    }
    await log.close();
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['e-20260101-000000-1.log', 'e-20260101-000000.log']);
    assert.match(readFileSync(join(dir, 'e-20260101-000000-1.log'), 'utf8'), /run 1/);
  });
});
