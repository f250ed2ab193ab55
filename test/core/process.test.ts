import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NODE_FLAGS, packageRoot, pidAlive } from '../../src/core/index.js';

describe('core/process', () => {
  it('the launcher\'s shebang carries exactly NODE_FLAGS, and the kernel runs it with them', () => {
    const bin = join(packageRoot(), 'bin', 'switchboard.js');
    const first = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
    assert.equal(first, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    // the same line on a script that prints its flags, run through the kernel as npx runs the bin
    const dir = mkdtempSync(join(tmpdir(), 'sb-shebang-'));
    try {
      const script = join(dir, 'flags.js');
      writeFileSync(script, `${first}\nprocess.stdout.write(JSON.stringify(process.execArgv));\n`, { mode: 0o755 });
      assert.deepEqual(JSON.parse(execFileSync(script, { encoding: 'utf8' })), [...NODE_FLAGS]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.match(execFileSync(bin, ['--version'], { encoding: 'utf8' }), /^\d+\.\d+\.\d+/);
  });

  it('pidAlive: this process is alive, a PID past the maximum is not', () => {
    assert.equal(pidAlive(process.pid), true);
    assert.equal(pidAlive(2 ** 22 + 1), false);
  });
});
