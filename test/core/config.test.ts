import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { closestKey, parseConfig, readConfigFile, type SwitchboardError } from '../../src/core/index.js';

const schema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(8081),
  healthIntervalMs: z.number().positive().default(30_000),
  probe: z.strictObject({ rise: z.number().int().default(2), fall: z.number().int().default(3) }).prefault({}),
});

describe('parseConfig', () => {
  it('applies defaults, merges layers in order and freezes the result', () => {
    const cfg = parseConfig(schema, [
      { source: 'config file a.yaml', values: { port: 9000, probe: { rise: 5 } } },
      { source: 'flags', values: { port: 9001 } },
    ]);
    assert.equal(cfg.port, 9001);
    assert.equal(cfg.probe.rise, 5);
    assert.equal(cfg.probe.fall, 3);
    assert.equal(cfg.healthIntervalMs, 30_000);
    assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.probe));
  });

  it('names an unknown key, where it came from, and the likely intended key', () => {
    assert.throws(
      () => parseConfig(schema, [{ source: 'config file a.yaml', values: { healthIntervalMS: 5 } }]),
      (err: SwitchboardError) =>
        err.code === 'SB_ERR_CONFIG_INVALID' && /config file a\.yaml: unknown key 'healthIntervalMS' \(did you mean 'healthIntervalMs'\?\)/.test(err.message),
    );
  });

  it('names an ill-typed nested key and its source', () => {
    assert.throws(
      () => parseConfig(schema, [{ source: 'flags', values: { probe: { fall: 'x' } } }]),
      (err: SwitchboardError) => err.code === 'SB_ERR_CONFIG_INVALID' && /flags: 'probe\.fall'/.test(err.message),
    );
  });

  it('reads JSON, YAML and TOML files and reports syntax errors with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-config-'));
    writeFileSync(join(dir, 'a.yaml'), 'port: 1\n');
    writeFileSync(join(dir, 'a.toml'), 'port = 2\n');
    writeFileSync(join(dir, 'a.json'), '{"port": 3}');
    writeFileSync(join(dir, 'bad.json'), '{"port": ');
    assert.deepEqual(readConfigFile(join(dir, 'a.yaml')), { port: 1 });
    assert.deepEqual({ ...readConfigFile(join(dir, 'a.toml')) }, { port: 2 });
    assert.deepEqual(readConfigFile(join(dir, 'a.json')), { port: 3 });
    assert.throws(() => readConfigFile(join(dir, 'bad.json')), /bad\.json: not valid json/);
    assert.throws(() => readConfigFile(join(dir, 'missing.yaml')), /missing\.yaml: no such file/);
  });

  it('suggests close keys only', () => {
    assert.equal(closestKey('helth-interval', ['healthInterval', 'port']), 'healthInterval');
    assert.equal(closestKey('zzz', ['healthInterval', 'port']), undefined);
  });
});
