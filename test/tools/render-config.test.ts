import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { isSwitchboardError, packageRoot } from '../../src/core/index.js';
import { generateServiceConfig, renderServiceConfig } from '../../src/tools/render-config.js';
import { runSwitchboard } from '../helpers/process.js';

const FIXTURES = join(packageRoot(), 'test', 'tools', 'fixtures', 'render-config');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-render-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const MODEL = { name: 'm', path: '/m.gguf', gpus: [0], max_tokens: 16, temperature: 0.7, top_p: 0.9, repetition_penalty: 1.02 };

function writeJson(dir: string, name: string, value: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(value));
  return p;
}

/** The message of the catalog error fn throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isSwitchboardError(err), `expected a catalog error, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected an error');
}

describe('render-config with the built-in template (same bytes as InfiniLM-SVC)', () => {
  // The .toml files are what the original render_service_config.py wrote for the .json files.
  for (const name of ['all-optional', 'several']) {
    it(`renders ${name}.json exactly`, () => {
      const text = renderServiceConfig({ config: join(FIXTURES, `${name}.json`) });
      assert.equal(text, fixture(`${name}.toml`));
    });
  }

  it('writes a file that parses as TOML with the values of the JSON', () => {
    const doc = parseToml(renderServiceConfig({ config: join(FIXTURES, 'several.json') })) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(doc), ['Qwen3-32B', '9g_8b_thinking', 'tiny']);
    assert.deepEqual({ ...doc['Qwen3-32B'] }, {
      path: '/models/Qwen3-32B-F16.gguf',
      gpus: [0, 1, 2, 3],
      'max-tokens': 32768,
      temperature: 0.6,
      'top-p': 0.95,
      'repetition-penalty': 1.02,
      think: true,
      'max-sessions': 1,
    });
    assert.equal(doc['9g_8b_thinking']!['gpu-memory-utilization'], 1e-5);
  });

  it('renders an empty models list as one blank line, as the original did', (t) => {
    const dir = scratch(t);
    assert.equal(renderServiceConfig({ config: writeJson(dir, 'e.json', { models: [] }) }), '\n');
  });

  it('escapes what would break the TOML: a quoted path, a dotted model name', (t) => {
    const dir = scratch(t);
    const config = writeJson(dir, 'q.json', { models: [{ ...MODEL, name: 'Qwen2.5-7B', path: 'C:\\models\\"q".gguf' }] });
    const text = renderServiceConfig({ config });
    assert.match(text, /^\["Qwen2\.5-7B"\]\npath = "C:\\\\models\\\\\\"q\\"\.gguf"\n/);
    const doc = parseToml(text) as Record<string, Record<string, unknown>>;
    assert.equal(doc['Qwen2.5-7B']!.path, 'C:\\models\\"q".gguf');
  });
});

describe('render-config input validation', () => {
  const cases: [string, unknown, string][] = [
    ['a missing name', { models: [{ ...MODEL, name: undefined }] }, 'models[0].name: missing (expected a string)'],
    ['a missing path', { models: [MODEL, { ...MODEL, path: undefined }] }, 'models[1].path: missing (expected a string)'],
    ['gpus not a list', { models: [MODEL, MODEL, { ...MODEL, gpus: '4,5' }] }, 'models[2].gpus: expected a list of integers'],
    ['a fractional GPU index', { models: [{ ...MODEL, gpus: [0, 1.5] }] }, 'models[0].gpus[1]: expected a GPU index (an integer >= 0)'],
    ['a string temperature', { models: [{ ...MODEL, temperature: '0.6' }] }, 'models[0].temperature: expected a number'],
    ['think not a boolean', { models: [{ ...MODEL, think: 'yes' }] }, 'models[0].think: expected true or false'],
    ['a null optional key', { models: [{ ...MODEL, top_k: null }] }, 'models[0].top_k: expected an integer >= 0'],
    ['models not a list', { models: { a: MODEL } }, 'models: expected a list of models'],
    ['no models for the built-in template', { other: 1 }, 'models: missing (expected a list of models; the built-in template renders only models)'],
  ];
  for (const [what, input, message] of cases) {
    it(`rejects ${what}`, (t) => {
      const config = writeJson(scratch(t), 'bad.json', input);
      assert.equal(errorOf(() => renderServiceConfig({ config })), message);
    });
  }

  it('rejects an integral max_tokens written as a float, as the engine would', (t) => {
    const dir = scratch(t);
    const config = join(dir, 'f.json');
    writeFileSync(config, JSON.stringify({ models: [MODEL] }).replace('"max_tokens":16', '"max_tokens":16.0'));
    assert.equal(errorOf(() => renderServiceConfig({ config })), 'models[0].max_tokens: expected an integer >= 1');
  });

  it('names the file on bad JSON and a missing file', (t) => {
    const dir = scratch(t);
    writeFileSync(join(dir, 'broken.json'), '{"models": [');
    assert.match(errorOf(() => renderServiceConfig({ config: 'broken.json', configsDir: dir })), /^Invalid JSON: .*broken\.json: /);
    assert.equal(errorOf(() => renderServiceConfig({ config: 'none.json', configsDir: dir })), `Deployment config not found: ${join(dir, 'none.json')} (nor none.json)`);
  });

  it('leaves an existing output file untouched when the input is bad', (t) => {
    const dir = scratch(t);
    const output = join(dir, 'service.toml');
    writeFileSync(output, 'old\n');
    const config = writeJson(dir, 'bad.json', { models: [{ ...MODEL, gpus: 3 }] });
    assert.throws(() => generateServiceConfig({ config, output }));
    assert.equal(readFileSync(output, 'utf8'), 'old\n');
  });
});

describe('render-config with user templates', () => {
  it('renders a template found in --templates-dir with every top-level variable, and includes', (t) => {
    const dir = scratch(t);
    const templates = join(dir, 'tpl');
    mkdirSync(templates);
    writeFileSync(join(templates, 'header.njk'), '# node {{ server }}\n');
    writeFileSync(
      join(templates, 'vllm.yaml.njk'),
      '{% include "header.njk" %}{% for m in models %}- model: {{ m.path }}\n  tp: {{ m.gpus | length }}\n  temperature: {{ m.temperature | toml }}\n{% endfor %}',
    );
    const config = writeJson(dir, 'c.json', { server: 'gpu-1', models: [{ ...MODEL, gpus: [0, 1], temperature: 1 }] });
    const text = renderServiceConfig({ config, template: 'vllm.yaml.njk', templatesDir: templates });
    assert.equal(text, '# node gpu-1\n- model: /m.gguf\n  tp: 2\n  temperature: 1\n');
  });

  it('renders a Jinja2 template in the style of InfiniLM-SVC\'s (tojson, lower on booleans, is defined)', (t) => {
    const dir = scratch(t);
    const template = join(dir, 'jinja.toml.j2');
    writeFileSync(
      template,
      '{% for model in models %}[{{ model.name }}]\ngpus = {{ model.gpus | tojson }}\ntemperature = {{ model.temperature }}\n' +
        '{% if model.think is defined %}think = {{ model.think | lower }}\n{% endif %}{% if model.top_k is defined %}top-k = {{ model.top_k }}\n{% endif %}{% endfor %}',
    );
    const config = writeJson(dir, 'c.json', { models: [{ ...MODEL, gpus: [4, 5], think: true }] });
    const text = renderServiceConfig({ config, template });
    assert.equal(text, '[m]\ngpus = [4, 5]\ntemperature = 0.7\nthink = true\n');
  });

  it('fails on a value the template uses but the JSON lacks, with the line', (t) => {
    const dir = scratch(t);
    const template = join(dir, 't.njk');
    writeFileSync(template, 'a\n{{ missing_value }}\n');
    const config = writeJson(dir, 'c.json', { models: [] });
    assert.match(errorOf(() => renderServiceConfig({ config, template })), /^Cannot render template .*t\.njk: \[Line 2, Column \d+\] attempted to output null or undefined value$/);
  });

  it('says where it looked for a missing template', () => {
    assert.equal(errorOf(() => renderServiceConfig({ test: true, template: 'nope.njk', templatesDir: 'tdir' })), 'Template not found: tdir/nope.njk (nor nope.njk)');
  });
});

describe('switchboard render-config (CLI)', () => {
  it('--test writes the sample model to a new temp file and says so', async (t) => {
    const r = await runSwitchboard(['render-config', '--test']);
    assert.equal(r.code, 0, r.stderr);
    const m = /^Generated test service configuration: (\S+\.toml)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    t.after(() => rmSync(m[1]!, { force: true }));
    assert.equal(
      readFileSync(m[1]!, 'utf8'),
      '[test-model]\npath = "/tmp/test-model.gguf"\ngpus = [0]\nmax-tokens = 1024\ntemperature = 0.7\ntop-p = 0.9\nrepetition-penalty = 1.02\nmax-sessions = 1\n\n',
    );
  });

  it('finds --config in --configs-dir and writes --output', async (t) => {
    const dir = scratch(t);
    const output = join(dir, 'service.toml');
    const r = await runSwitchboard(['render-config', '--configs-dir', FIXTURES, '--config', 'all-optional.json', '--output', output]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Generated service configuration: ${output}\n`);
    assert.equal(readFileSync(output, 'utf8'), fixture('all-optional.toml'));
  });

  it('prints Error: and exits 1 without writing anything on a bad input', async (t) => {
    const dir = scratch(t);
    const output = join(dir, 'service.toml');
    const config = writeJson(dir, 'bad.json', { models: [MODEL, MODEL, { ...MODEL, gpus: 'all' }] });
    const r = await runSwitchboard(['render-config', '--config', config, '--output', output]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error: models[2].gpus: expected a list of integers\n');
    assert.equal(existsSync(output), false);
    const none = await runSwitchboard(['render-config']);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'Error: --config is required when not using --test\n');
  });
});
