import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runSwitchboard, spawnSwitchboard } from '../helpers/process.js';

describe('switchboard sim (CLI)', () => {
  it('starts on --port 0, logs its url, serves --models, and stops cleanly on SIGTERM', async (t) => {
    const p = spawnSwitchboard(t, ['sim', '--port', '0', '--models', 'a,b', '--decode-ms', '0', '--seed', '3']);
    const url = await p.listeningUrl();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(models.data.map((m) => m.id), ['a', 'b']);
    assert.equal(await p.stop('SIGTERM'), 0);
  });

  it('takes settings from a config file under the flags', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sim-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'sim.yaml');
    writeFileSync(file, 'models: [from-file]\ndecodeMs: 0\nkind: embeddings\nfaults:\n  errorRate: 1\n');
    const p = spawnSwitchboard(t, ['sim', '--config', file, '--port', '0', '--fault-error-rate', '0']);
    const url = await p.listeningUrl();
    const res = await fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'from-file', input: 'x' }) });
    assert.equal(res.status, 200, 'the flag (0) overrides the file (1)');
    const chat = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'from-file', messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal(chat.status, 400, 'kind from the file');
  });

  it('refuses bad settings with exit 2, naming the flag or key', async () => {
    const kind = await runSwitchboard(['sim', '--kind', 'speech']);
    assert.equal(kind.code, 2);
    assert.match(kind.stderr, /'kind'/);
    const rate = await runSwitchboard(['sim', '--fault-error-rate', '1.5']);
    assert.equal(rate.code, 2);
    assert.match(rate.stderr, /--fault-error-rate/);
    const len = await runSwitchboard(['sim', '--max-model-len', '9000', '--kv-cache-tokens', '4096']);
    assert.equal(len.code, 2);
    assert.match(len.stderr, /'maxModelLen' must not exceed kvCacheTokens/);
  });
});
