import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger, ManualClock, type SwitchboardError } from '../../src/core/index.js';
import {
  createKeyInFile,
  hashKey,
  KeyRing,
  KeysWatcher,
  loadKeyRing,
  parseKeysFile,
  presentedKey,
  revokeKeyInFile,
  type KeysFile,
} from '../../src/gateway/index.js';
import { runSwitchboard } from '../helpers/process.js';

const KEY_A = 'sk-sb-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const KEY_B = 'sk-sb-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const KEY_OLD = 'sk-sb-ooooooooooooooooooooooooooooooooooooooooooo';

function file(): KeysFile {
  return parseKeysFile(
    {
      version: 1,
      keys: [
        { name: 'team-a', tenant: 'acme', sha256: hashKey(KEY_A), models: ['chat', 'qwen-*'], limits: { rpm: 60 } },
        { name: 'ops', sha256: hashKey(KEY_B), models: '*' },
        { name: 'old', sha256: hashKey(KEY_OLD), revoked: true },
      ],
    },
    'test',
  );
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sb-keys-'));
}

describe('KeyRing', () => {
  it('authenticates a known key and returns its name, tenant, models and limits (never the key)', () => {
    const ring = new KeyRing(file());
    const info = ring.authenticate(KEY_A);
    assert.ok(info);
    assert.equal(info.name, 'team-a');
    assert.equal(info.tenant, 'acme');
    assert.deepEqual(info.limits, { rpm: 60 });
    assert.ok(!JSON.stringify(info).includes(KEY_A) && !JSON.stringify(info).includes(hashKey(KEY_A)));
  });

  it('refuses unknown, empty, over-long and revoked keys', () => {
    const ring = new KeyRing(file());
    assert.equal(ring.authenticate('sk-sb-nope'), undefined);
    assert.equal(ring.authenticate(''), undefined);
    assert.equal(ring.authenticate(KEY_A + 'x'.repeat(1000)), undefined);
    assert.equal(ring.authenticate(KEY_A.slice(0, -1)), undefined);
    assert.equal(ring.authenticate(KEY_OLD), undefined, 'revoked');
  });

  it('goes through one 32-byte constant-time compare on every path (known, unknown, revoked)', () => {
    const calls: [number, number][] = [];
    const ring = new KeyRing(file(), (a, b) => {
      calls.push([a.length, b.length]);
      return a.equals(b);
    });
    ring.authenticate(KEY_A);
    ring.authenticate('sk-sb-unknown');
    ring.authenticate(KEY_OLD);
    ring.authenticate('not even our prefix');
    assert.deepEqual(calls, [[32, 32], [32, 32], [32, 32], [32, 32]]);
  });

  it('allows models by exact name, by prefix pattern, or all', () => {
    const ring = new KeyRing(file());
    const a = ring.authenticate(KEY_A)!;
    const b = ring.authenticate(KEY_B)!;
    assert.equal(ring.allows(a, 'chat'), true);
    assert.equal(ring.allows(a, 'qwen-7b'), true);
    assert.equal(ring.allows(a, 'chat-v2'), false);
    assert.equal(ring.allows(a, 'llama'), false);
    assert.equal(ring.allows(b, 'anything'), true);
  });

  it('authorize(): 401 missing, 401 invalid, 403 model forbidden, with OpenAI types', () => {
    const ring = new KeyRing(file());
    const code = (fn: () => unknown): [string, number, string, string | null] => {
      try {
        fn();
      } catch (err) {
        const e = err as SwitchboardError;
        return [e.code, e.statusCode, e.type, e.param];
      }
      return ['none', 0, '', null];
    };
    assert.deepEqual(code(() => ring.authorize({}, 'chat')), ['SB_ERR_AUTH_MISSING', 401, 'authentication_error', null]);
    assert.deepEqual(code(() => ring.authorize({ authorization: 'Bearer sk-sb-wrong' }, 'chat')), ['SB_ERR_AUTH_INVALID', 401, 'authentication_error', null]);
    assert.deepEqual(code(() => ring.authorize({ authorization: `Bearer ${KEY_OLD}` }, 'chat')), ['SB_ERR_AUTH_INVALID', 401, 'authentication_error', null]);
    assert.deepEqual(code(() => ring.authorize({ authorization: `Bearer ${KEY_A}` }, 'llama')), ['SB_ERR_MODEL_FORBIDDEN', 403, 'permission_error', 'model']);
    assert.equal(ring.authorize({ authorization: `bearer ${KEY_A}` }, 'chat').name, 'team-a');
    assert.equal(ring.authorize({ 'x-api-key': KEY_B }, undefined).name, 'ops');
    try {
      ring.authorize({ authorization: 'Bearer sk-sb-wrong-key-123' }, 'chat');
    } catch (err) {
      assert.ok(!(err as Error).message.includes('sk-sb-wrong-key-123'), 'the message never echoes the key');
    }
  });

  it('presentedKey reads Bearer auth and x-api-key, nothing else', () => {
    assert.equal(presentedKey({ authorization: 'Bearer  abc ' }), 'abc');
    assert.equal(presentedKey({ authorization: 'Basic abc' }), undefined);
    assert.equal(presentedKey({ authorization: 'Bearer ' }), undefined);
    assert.equal(presentedKey({ 'x-api-key': 'k' }), 'k');
    assert.equal(presentedKey({}), undefined);
  });
});

describe('keys file validation', () => {
  const bad: [string, string, RegExp][] = [
    ['not YAML', 'keys: [\n', /not valid YAML/],
    ['a plaintext key', 'keys:\n  - name: a\n    key: sk-sb-secret\n', /keys\[0\]\.key: plaintext keys are not accepted/],
    ['a bad hash', 'keys:\n  - name: a\n    sha256: abc\n', /keys\[0\]\.sha256: expected the SHA-256/],
    ['a duplicate name', `keys:\n  - {name: a, sha256: ${hashKey('1')}}\n  - {name: a, sha256: ${hashKey('2')}}\n`, /keys\[1\]\.name: 'a' is also the name of keys\[0\]/],
    ['a duplicate key', `keys:\n  - {name: a, sha256: ${hashKey('1')}}\n  - {name: b, sha256: ${hashKey('1')}}\n`, /keys\[1\]\.sha256: the same key as keys\[0\] \('a'\)/],
    ['a misspelt field', `keys:\n  - {name: a, sha256: ${hashKey('1')}, model: [x]}\n`, /keys\[0\]: unknown key 'model' \(did you mean 'models'\?\)/],
    ['an empty model list', `keys:\n  - {name: a, sha256: ${hashKey('1')}, models: []}\n`, /keys\[0\]\.models/],
    ['a negative limit', `keys:\n  - {name: a, sha256: ${hashKey('1')}, limits: {rpm: -1}}\n`, /keys\[0\]\.limits\.rpm/],
    ['a list at the top', '- a\n', /\(top level\)/],
  ];
  for (const [what, text, re] of bad) {
    it(`rejects ${what} with SB_ERR_KEYS_FILE naming the file and the entry`, () => {
      const path = join(tempDir(), 'auth.yaml');
      writeFileSync(path, text);
      assert.throws(() => loadKeyRing(path), (err: SwitchboardError) => {
        assert.equal(err.code, 'SB_ERR_KEYS_FILE');
        assert.ok(err.message.startsWith(`Keys file ${path}: `), err.message);
        assert.match(err.message, re);
        return true;
      });
    });
  }

  it('says how to create a missing file', () => {
    assert.throws(() => loadKeyRing('/nonexistent/auth.yaml'), /no such file \(switchboard keys create/);
  });

  it('accepts an empty file as no keys (every request then gets 401)', () => {
    const path = join(tempDir(), 'auth.yaml');
    writeFileSync(path, '# nothing yet\n');
    assert.equal(loadKeyRing(path).size, 0);
  });
});

function captureLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  return { logger: createLogger({ name: 'test', level: 'info', destination: { write: (s: string) => void lines.push(s) } }), text: () => lines.join('') };
}

describe('KeysWatcher (reload while running)', () => {
  it('picks up a new key and a revocation on the next poll', async (t) => {
    const path = join(tempDir(), 'auth.yaml');
    const { key: first } = await createKeyInFile(path, { name: 'first', nowIso: '2026-01-01T00:00:00Z' });
    const clock = new ManualClock();
    const reloaded: number[] = [];
    const w = KeysWatcher.start({ path, clock, intervalMs: 1000, onReload: (r) => reloaded.push(r.size) });
    t.after(() => w.close());
    assert.ok(w.current().authenticate(first));
    const { key: second } = await createKeyInFile(path, { name: 'second', nowIso: '2026-01-01T00:00:00Z' });
    assert.equal(w.current().authenticate(second), undefined, 'not before the poll');
    await clock.advance(1000);
    assert.equal(w.current().authenticate(second)?.name, 'second');
    await revokeKeyInFile(path, 'first', '2026-01-01T00:00:01Z');
    await clock.advance(1000);
    assert.equal(w.current().authenticate(first), undefined, 'revoked key refused after reload');
    assert.deepEqual(reloaded, [2, 2]);
    assert.deepEqual(w.stats(), { reloads: 2, rejected: 0, keys: 2 });
  });

  it('rejects a bad file, keeps the old keys, logs names only, and takes the next good file', async (t) => {
    const path = join(tempDir(), 'auth.yaml');
    const { key } = await createKeyInFile(path, { name: 'team-a', nowIso: '2026-01-01T00:00:00Z' });
    const good = readFileSync(path, 'utf8');
    const clock = new ManualClock();
    const { logger, text } = captureLogger();
    const w = KeysWatcher.start({ path, clock, intervalMs: 1000, logger });
    t.after(() => w.close());

    writeFileSync(path, good.replace(/sha256: [0-9a-f]+/, 'sha256: nothex'));
    await clock.advance(1000);
    assert.equal(w.current().authenticate(key)?.name, 'team-a', 'old ring still in force');
    assert.throws(() => w.reload(), { code: 'SB_ERR_KEYS_FILE' });
    assert.equal(w.current().authenticate(key)?.name, 'team-a');
    assert.equal(w.stats().rejected, 2);

    writeFileSync(path, good.replace('team-a', 'team-b'));
    await clock.advance(1000);
    assert.equal(w.current().authenticate(key)?.name, 'team-b');

    logger.flush();
    const logs = text();
    assert.match(logs, /api keys file rejected; keeping the previous keys/);
    assert.match(logs, /"added":\["team-b"\].*"removed":\["team-a"\]/);
    assert.ok(!logs.includes(key), 'the key never reaches a log line');
    assert.ok(!logs.includes(hashKey(key)), 'nor its hash');
  });

  it('refuses to start on a bad file', () => {
    const path = join(tempDir(), 'auth.yaml');
    writeFileSync(path, 'keys: 3\n');
    assert.throws(() => KeysWatcher.start({ path, intervalMs: 0 }), { code: 'SB_ERR_KEYS_FILE' });
  });
});

describe('switchboard keys (real processes)', () => {
  it('create prints the key once, stores only its hash, mode 0600; list never shows key or hash; revoke refuses it', async () => {
    const dir = tempDir();
    const path = join(dir, 'auth.yaml');
    const c = await runSwitchboard(['keys', 'create', '--file', path, '--name', 'team-a', '--tenant', 'acme', '--models', 'chat,bge-m3', '--rpm', '600', '--tpm', '200000']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^sk-sb-[A-Za-z0-9_-]{43}\n$/);
    const key = c.stdout.trim();
    assert.match(c.stderr, /Created API key 'team-a' \(tenant acme\).*cannot be shown again/s);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes(key), 'the key is not in the file');
    assert.ok(text.includes(hashKey(key)), 'its sha256 is');

    const ring = loadKeyRing(path);
    const info = ring.authenticate(key);
    assert.deepEqual(info && { ...info, models: [...(info.models as string[])] }, {
      name: 'team-a',
      tenant: 'acme',
      models: ['chat', 'bge-m3'],
      limits: { rpm: 600, tpm: 200000 },
      createdAt: info?.createdAt,
      revoked: false,
    });

    const c2 = await runSwitchboard(['keys', 'create', '--file', path, '--name', 'ops']);
    assert.equal(c2.code, 0, c2.stderr);

    const l = await runSwitchboard(['keys', 'list', '--file', path]);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /^NAME\s+TENANT\s+MODELS\s+RPM\s+TPM/);
    assert.match(l.stdout, /team-a\s+acme\s+chat,bge-m3\s+600\s+200000\s+\S+\s+active/);
    assert.match(l.stdout, /ops\s+-\s+\*\s+-\s+-/);
    for (const secret of [key, c2.stdout.trim(), hashKey(key), hashKey(c2.stdout.trim())]) assert.ok(!l.stdout.includes(secret), 'list shows no key and no whole hash');

    const r = await runSwitchboard(['keys', 'revoke', '--file', path, '--name', 'team-a']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(loadKeyRing(path).authenticate(key), undefined, 'revoked');
    assert.equal(loadKeyRing(path).authenticate(c2.stdout.trim())?.name, 'ops', 'the other key still works');
    assert.equal(statSync(path).mode & 0o777, 0o600, 'still 0600 after rewrite');
    const lj = await runSwitchboard(['keys', 'list', '--file', path, '--json']);
    const listed = JSON.parse(lj.stdout) as { name: string; revoked: boolean; sha256_prefix: string }[];
    assert.deepEqual(listed.map((k) => [k.name, k.revoked]), [['team-a', true], ['ops', false]]);
    assert.equal(listed[0]!.sha256_prefix.length, 8);
  });

  it('keeps an operator\'s comments when it rewrites the file', async () => {
    const path = join(tempDir(), 'auth.yaml');
    writeFileSync(path, `# owned by the platform team\nversion: 1\nkeys:\n  # the batch pipeline\n  - name: batch\n    sha256: ${hashKey('x')}\n`);
    const c = await runSwitchboard(['keys', 'create', '--file', path, '--name', 'new']);
    assert.equal(c.code, 0, c.stderr);
    const r = await runSwitchboard(['keys', 'revoke', '--file', path, '--name', 'batch']);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(path, 'utf8');
    assert.match(text, /# owned by the platform team/);
    assert.match(text, /# the batch pipeline/);
    assert.deepEqual(loadKeyRing(path).list().map((k) => [k.name, k.revoked]), [['batch', true], ['new', false]]);
  });

  it('loses no key when two creates run at once (file lock)', async () => {
    const path = join(tempDir(), 'auth.yaml');
    const runs = await Promise.all(['a', 'b', 'c', 'd'].map((n) => runSwitchboard(['keys', 'create', '--file', path, '--name', n])));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const ring = loadKeyRing(path);
    assert.deepEqual(ring.list().map((k) => k.name).sort(), ['a', 'b', 'c', 'd']);
    for (const r of runs) assert.ok(ring.authenticate(r.stdout.trim()));
  });

  it('refuses a duplicate name, an unknown revoke, a missing --file and a bad file, with exit 2', async () => {
    const path = join(tempDir(), 'auth.yaml');
    assert.equal((await runSwitchboard(['keys', 'create', '--file', path, '--name', 'a'])).code, 0);
    const dup = await runSwitchboard(['keys', 'create', '--file', path, '--name', 'a']);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /a key named 'a' exists already.*SB_ERR_KEYS_FILE/);
    assert.equal(dup.stdout, '', 'no key printed');
    const unknown = await runSwitchboard(['keys', 'revoke', '--file', path, '--name', 'zz']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /No API key named 'zz'.*SB_ERR_KEY_NOT_FOUND/);
    const noFile = await runSwitchboard(['keys', 'list'], { env: { SWITCHBOARD_KEYS_FILE: '' } });
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /--file <auth\.yaml> is required/);
    const badPath = join(tempDir(), 'auth.yaml');
    writeFileSync(badPath, 'keys:\n  - name: a\n    key: sk-sb-plain\n');
    const bad = await runSwitchboard(['keys', 'create', '--file', badPath, '--name', 'b']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /plaintext keys are not accepted/);
    assert.equal(readFileSync(badPath, 'utf8'), 'keys:\n  - name: a\n    key: sk-sb-plain\n', 'a file the router would reject is left alone');
  });
});
