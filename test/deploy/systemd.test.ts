// The systemd units under deploy/systemd, checked by the real `systemd-analyze verify` and
// `systemd-analyze security --offline`. Neither needs a running systemd, but verify insists that
// ExecStart's program exists and loads the units the ones under test depend on, so both run
// against a scratch root (--root): the host's unit folder copied in, a stub
// /usr/local/bin/switchboard, and our units in /etc/systemd/system.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { requireTool, toolPath } from '../helpers/services.js';
import { commandFlags, DEPLOY, flagsIn } from './contract.js';

const UNITS = ['switchboard-registry.service', 'switchboard-router.service', 'switchboard-agent@.service'] as const;
/** The unit name verify loads for each file (a template needs an instance). */
const INSTANCE: Record<(typeof UNITS)[number], string> = {
  'switchboard-registry.service': 'switchboard-registry.service',
  'switchboard-router.service': 'switchboard-router.service',
  'switchboard-agent@.service': 'switchboard-agent@gpu0.service',
};
const SYSTEM_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(join(d, 'sysinit.target')));

function scratchRoot(t: TestContext, units: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'sb-systemd-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync(SYSTEM_UNITS!, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/local/bin/switchboard'), '#!/bin/sh\n');
  chmodSync(join(root, 'usr/local/bin/switchboard'), 0o755);
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  for (const [name, text] of Object.entries(units)) writeFileSync(join(root, 'etc/systemd/system', name), text);
  return root;
}

function analyze(args: string[]): { code: number | null; output: string } {
  const r = spawnSync(toolPath('systemd-analyze'), args, { encoding: 'utf8', env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } });
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

function unitText(name: string): string {
  return readFileSync(join(DEPLOY, 'systemd', name), 'utf8');
}

/** Key=value pairs of one section (repeated keys keep every value). */
function section(text: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      current = m[1]!;
      continue;
    }
    if (current !== name) continue;
    const eq = line.indexOf('=');
    const k = line.slice(0, eq);
    out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe('systemd units', () => {
  it('systemd-analyze verify reports nothing for each unit', (t) => {
    if (!requireTool(t, 'systemd-analyze')) return;
    assert.ok(SYSTEM_UNITS, 'no systemd unit folder on this machine');
    const root = scratchRoot(t, Object.fromEntries(UNITS.map((u) => [u, unitText(u)])));
    for (const u of UNITS) {
      const r = analyze(['verify', `--root=${root}`, '--man=no', `/etc/systemd/system/${INSTANCE[u]}`]);
      assert.equal(r.output, '', `${u}: systemd-analyze verify printed:\n${r.output}`);
      assert.equal(r.code, 0, u);
    }
  });

  it('systemd-analyze verify does catch a broken unit here (the check above is live)', (t) => {
    if (!requireTool(t, 'systemd-analyze')) return;
    const broken = unitText('switchboard-router.service').replace('Restart=on-failure', 'Restart=sometimes');
    const root = scratchRoot(t, { 'switchboard-router.service': broken });
    const r = analyze(['verify', `--root=${root}`, '--man=no', '/etc/systemd/system/switchboard-router.service']);
    assert.match(r.output, /restart specifier.*sometimes/i);
    // and a missing program fails it outright
    const root2 = scratchRoot(t, { 'switchboard-router.service': unitText('switchboard-router.service') });
    rmSync(join(root2, 'usr/local/bin/switchboard'));
    const r2 = analyze(['verify', `--root=${root2}`, '--man=no', '/etc/systemd/system/switchboard-router.service']);
    assert.notEqual(r2.code, 0);
    assert.match(r2.output, /switchboard.*(not executable|No such file)/);
  });

  it('hardening: exposure of registry and router at most 2.5, agent at most 5 (systemd-analyze security)', (t) => {
    if (!requireTool(t, 'systemd-analyze')) return;
    const root = scratchRoot(t, Object.fromEntries(UNITS.map((u) => [u, unitText(u)])));
    const limits: Record<(typeof UNITS)[number], string> = {
      'switchboard-registry.service': '25',
      'switchboard-router.service': '25',
      'switchboard-agent@.service': '50',
    };
    for (const u of UNITS) {
      const r = analyze(['security', '--offline=yes', `--root=${root}`, `--threshold=${limits[u]}`, '--no-pager', `/etc/systemd/system/${INSTANCE[u]}`]);
      const level = /Overall exposure level for \S+: ([\d.]+)/.exec(r.output)?.[1];
      assert.equal(r.code, 0, `${u}: exposure ${level ?? '?'} over ${Number(limits[u]) / 10}\n${r.output.split('\n').slice(-3).join('\n')}`);
    }
  });

  for (const u of UNITS) {
    it(`${u}: restarts on failure, reads an EnvironmentFile, runs unprivileged`, () => {
      const svc = section(unitText(u), 'Service');
      assert.deepEqual(svc.get('Restart'), ['on-failure']);
      assert.ok((svc.get('EnvironmentFile') ?? []).every((f) => f.startsWith('-/etc/switchboard/')), 'EnvironmentFile under /etc/switchboard, optional');
      assert.ok((svc.get('EnvironmentFile') ?? []).length > 0, 'has an EnvironmentFile');
      assert.ok(svc.get('DynamicUser')?.[0] === 'yes' || svc.get('User')?.[0] === 'switchboard', 'DynamicUser or the switchboard user');
      assert.deepEqual(svc.get('NoNewPrivileges'), ['yes']);
      assert.equal(section(unitText(u), 'Install').get('WantedBy')?.[0], 'multi-user.target');
    });
  }

  it('ExecStart uses only flags the commands have (for the commands that exist)', async (t) => {
    for (const u of UNITS) {
      const exec = section(unitText(u), 'Service').get('ExecStart')?.[0];
      assert.ok(exec, `${u} has ExecStart`);
      const [bin, command, ...args] = exec.split(/\s+/);
      assert.equal(bin, '/usr/local/bin/switchboard');
      const known = await commandFlags(command!);
      if (!known) {
        t.diagnostic(`switchboard ${command} does not exist yet; its flags are not checked`);
        continue;
      }
      for (const f of flagsIn(args)) assert.ok(known.has(f), `${u}: switchboard ${command} has no ${f}`);
    }
  });

  it('the example files parse: env files are KEY=value, the agent example is a node TOML', () => {
    for (const f of ['registry.env.example', 'router.env.example', 'agent.env.example']) {
      for (const line of readFileSync(join(DEPLOY, 'systemd', f), 'utf8').split('\n')) {
        if (line.trim() === '' || line.startsWith('#')) continue;
        assert.match(line, /^[A-Z_][A-Z0-9_]*=\S*( \S+)*$/, `${f}: ${line}`);
      }
    }
    // every variable a unit reads has an example
    const env = readFileSync(join(DEPLOY, 'systemd', 'router.env.example'), 'utf8');
    for (const v of unitText('switchboard-router.service').matchAll(/\$\{?([A-Z_]+)\}?/g)) assert.match(env, new RegExp(`^${v[1]}=`, 'm'), `router.env.example sets ${v[1]}`);
    const node = parseToml(readFileSync(join(DEPLOY, 'systemd', 'agents', 'gpu0.toml'), 'utf8')) as { port?: number; backend?: { type?: string } };
    assert.equal(node.port, 8100);
    assert.equal(node.backend?.type, 'vllm');
  });

  it('the agent unit reads the node config named by its instance', () => {
    const exec = section(unitText('switchboard-agent@.service'), 'Service').get('ExecStart')![0]!;
    assert.match(exec, /--config \/etc\/switchboard\/agents\/%i\.toml/);
    assert.match(section(unitText('switchboard-agent@.service'), 'Service').get('KillMode')![0]!, /^mixed$/, 'SIGTERM to the agent only, so it drains its engines');
  });
});
