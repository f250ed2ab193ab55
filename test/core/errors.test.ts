import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERRORS, packageRoot, sbError, sbErrorFrom, SwitchboardError } from '../../src/core/index.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'errors.md'), 'utf8');
const documented = new Set([...doc.matchAll(/^### (SB_ERR_[A-Z0-9_]+)\b/gm)].map((m) => m[1]!));

describe('error catalog', () => {
  it('documents every code in docs/errors.md', () => {
    const missing = Object.keys(ERRORS).filter((c) => !documented.has(c));
    assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`);
  });

  it('documents no code that does not exist', () => {
    const stale = [...documented].filter((c) => !(c in ERRORS));
    assert.deepEqual(stale, [], `docs/errors.md names codes not in the catalog: ${stale.join(', ')}`);
  });

  it('states each code’s HTTP status in its docs section', () => {
    for (const [code, def] of Object.entries(ERRORS)) {
      const section = doc.split(`### ${code}`)[1]?.split('\n### ')[0] ?? '';
      assert.match(section, new RegExp(`HTTP ${def.statusCode}\\b`), `${code}: docs must say HTTP ${def.statusCode}`);
    }
  });

  it('builds typed messages with status, type and cause', () => {
    const e = sbError('SB_ERR_SERVICE_NOT_FOUND', 'gpu-1');
    assert.ok(e instanceof SwitchboardError);
    assert.equal(e.message, "Service 'gpu-1' not found");
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'SB_ERR_SERVICE_NOT_FOUND');
    const cause = new Error('boom');
    assert.equal(sbErrorFrom(cause, 'SB_ERR_INTERNAL').cause, cause);
  });
});
