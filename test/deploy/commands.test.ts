// The registry and router command lines of every deployment (Compose, Kubernetes, systemd with
// its example EnvironmentFile), run for real with the environment the deployment gives them:
// each must start and answer its liveness endpoint. Only what cannot exist here is rewritten:
// ports become 0, the registry URL points at a live registry, /etc paths at the repository's
// files, the data folder at a scratch one, and the Redis store at the memory store (the Redis
// store has its own tests, and a shared local Redis must not get the fleet's default keys).
// This is what catches a deployment that would crash-loop, such as a router bound to 0.0.0.0
// without an admin token.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { spawnSwitchboard } from '../helpers/process.js';
import { commandFlags, DEPLOY, loadYamlDocuments, PROCESSES, processOf, readDeploy, type ProcessKind } from './contract.js';

interface Launch {
  source: string;
  kind: ProcessKind;
  args: string[];
  env: Record<string, string>;
}

/** Compose's `${X:?msg}` (a value is required: the test gives one) and `${X:-default}`. */
function composeValue(v: string): string {
  return v.replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => `test-${name.toLowerCase()}`).replace(/\$\{(\w+):-([^}]*)\}/g, (_, _n: string, def: string) => def);
}

function composeLaunches(): Launch[] {
  const compose = loadYamlDocuments(readDeploy('docker', 'compose.yaml'), 'compose.yaml')[0] as { services: Record<string, { command?: string[]; environment?: Record<string, string>; image?: string }> };
  return Object.entries(compose.services)
    .filter(([, s]) => s.image === 'switchboard:local' && ['registry', 'router'].includes(s.command![0]!))
    .map(([name, s]) => ({ source: `compose ${name}`, kind: processOf(s.command!), args: s.command!, env: Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, composeValue(v)])) }));
}

function kubernetesLaunches(): Launch[] {
  const out: Launch[] = [];
  for (const file of ['registry.yaml', 'router.yaml']) {
    for (const m of loadYamlDocuments(readDeploy('kubernetes', file), file) as { kind: string; metadata: { name: string }; spec: { template?: { spec: { containers: { args: string[]; env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { key: string } } }[] }[] } } } }[]) {
      if (m.kind !== 'Deployment') continue;
      const c = m.spec.template!.spec.containers[0]!;
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? `test-secret-${e.valueFrom!.secretKeyRef!.key}`]));
      out.push({ source: `kubernetes ${m.metadata.name}`, kind: processOf(c.args), args: c.args, env });
    }
  }
  return out;
}

/** KEY=value lines of an EnvironmentFile (or of an Environment= line, space-separated pairs). */
function envPairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function systemdLaunches(stateDir: string): Launch[] {
  return (['registry', 'router'] as const).map((kind) => {
    const unit = readDeploy('systemd', `switchboard-${kind}.service`);
    const defaults: Record<string, string> = {};
    for (const m of unit.matchAll(/^Environment=(.*)$/gm)) for (const pair of m[1]!.split(/\s+/)) Object.assign(defaults, envPairs(pair));
    const env = { ...defaults, ...envPairs(readDeploy('systemd', `${kind}.env.example`)) };
    const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!.replace(/%S/g, stateDir);
    // systemd: ${X} is one argument, $X is split on whitespace, an unset $X is dropped.
    const args = exec
      .split(/\s+/)
      .flatMap((w) => {
        const whole = /^\$(\w+)$/.exec(w);
        if (whole) return (env[whole[1]!] ?? '').split(/\s+/).filter(Boolean);
        return [w.replace(/\$\{(\w+)\}/g, (_, n: string) => env[n] ?? '')];
      })
      .slice(1);
    return { source: `systemd switchboard-${kind}.service`, kind, args, env: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('SWITCHBOARD_TOKEN') || k === 'SWITCHBOARD_ADMIN_TOKEN')) };
  });
}

function localize(l: Launch, registryUrl: string, dataDir: string): string[] {
  const args = [...l.args];
  const set = (flag: string, fn: (v: string) => string): void => {
    const i = args.indexOf(flag);
    if (i >= 0) args[i + 1] = fn(args[i + 1]!);
  };
  set(PROCESSES[l.kind].portFlag!, () => '0');
  set('--registry-url', () => registryUrl);
  set('--store', () => 'memory');
  set('--data-dir', () => dataDir);
  set('--config', (v) => (v.endsWith('/routing.yaml') ? join(DEPLOY, 'config', 'routing.yaml') : v));
  return args;
}

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-deploy-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('deployment command lines start for real', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-deploy-state-'));
  const launches = [...composeLaunches(), ...kubernetesLaunches(), ...systemdLaunches(dir)];
  rmSync(dir, { recursive: true, force: true });

  it('covers the registry and the router of each deployment', () => {
    assert.deepEqual(launches.map((l) => `${l.source.split(' ')[0]} ${l.kind}`).sort(), ['compose registry', 'compose router', 'kubernetes registry', 'kubernetes router', 'systemd registry', 'systemd router']);
  });

  for (const l of launches) {
    it(`${l.source}: starts and answers ${PROCESSES[l.kind].liveness}`, async (t) => {
      if (!(await commandFlags(l.kind))) return t.skip(`switchboard ${l.kind} does not exist in this tree yet`);
      const dataDir = scratch(t);
      const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes']);
      const registryUrl = await registry.listeningUrl();
      // only what the deployment sets: no token leaks in from the test's own environment
      const env: Record<string, string | undefined> = { SWITCHBOARD_TOKEN: undefined, SWITCHBOARD_ADMIN_TOKEN: undefined, SWITCHBOARD_AGENT_TOKEN: undefined, ...l.env };
      const proc = spawnSwitchboard(t, localize(l, registryUrl, dataDir), { env, cwd: dataDir });
      const url = new URL(await proc.listeningUrl());
      if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = '127.0.0.1';
      const res = await fetch(new URL(PROCESSES[l.kind].liveness, url), { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200, `${l.source} ${PROCESSES[l.kind].liveness}`);
      await res.body?.cancel();
      assert.equal(await proc.stop(), 0, `${l.source} stops cleanly on SIGTERM`);
    });
  }

  it('a router bound beyond loopback without an admin token refuses to start (what the tokens above prevent)', async (t) => {
    if (!(await commandFlags('router'))) return t.skip('switchboard router does not exist in this tree yet');
    const proc = spawnSwitchboard(t, ['router', '--host', '0.0.0.0', '--router-port', '0'], { env: { SWITCHBOARD_ADMIN_TOKEN: undefined } });
    assert.notEqual(await proc.exited, 0);
    assert.match(proc.lines.join('\n'), /SB_ERR_INSECURE_BIND/);
    assert.ok(readFileSync(join(DEPLOY, 'systemd', 'router.env.example'), 'utf8').includes('SWITCHBOARD_ADMIN_TOKEN='));
  });
});
