// deploy/kubernetes: every document parses, kinds and apiVersions are ones a current cluster
// serves, selectors and Services line up with the pods, and each container's probes use the
// endpoints its process serves on the port it listens on (router: liveness /health/live,
// readiness /health/ready; registry and agent /health). No cluster here, so no kubectl.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { commandFlags, DEPLOY, flagsIn, flagValue, loadYamlDocuments, PROCESSES, processOf, processPort, type ProcessKind } from './contract.js';

interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  volumeMounts?: { name: string; mountPath: string }[];
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; configMap?: { name: string }; emptyDir?: object }[];
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    ports?: { name: string; port: number; targetPort: string | number }[];
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
  };
  data?: Record<string, string>;
  resources?: string[];
}

const DIR = join(DEPLOY, 'kubernetes');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

const API: Record<string, string> = {
  Namespace: 'v1',
  ConfigMap: 'v1',
  Service: 'v1',
  Secret: 'v1',
  Deployment: 'apps/v1',
  DaemonSet: 'apps/v1',
  StatefulSet: 'apps/v1',
  HorizontalPodAutoscaler: 'autoscaling/v2',
  PodDisruptionBudget: 'policy/v1',
  Kustomization: 'kustomize.config.k8s.io/v1beta1',
};
const WORKLOADS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

function load(): { file: string; m: Manifest }[] {
  return FILES.flatMap((file) => loadYamlDocuments(readFileSync(join(DIR, file), 'utf8'), file).map((m) => ({ file, m: m as Manifest })));
}

const all = load();
const manifests = all.filter(({ m }) => m.kind !== 'Kustomization');
const workloads = manifests.filter(({ m }) => WORKLOADS.has(m.kind));

function find(kind: string, name: string): Manifest | undefined {
  return manifests.find(({ m }) => m.kind === kind && m.metadata.name === name)?.m;
}

function subset(sel: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

/** The agent's engine port, from the node TOML its pod renders from a ConfigMap. */
function agentEnginePort(pod: PodSpec): number {
  const tpl = pod.volumes?.find((v) => v.name === 'template')?.configMap?.name;
  const cm = find('ConfigMap', tpl ?? '');
  assert.ok(cm?.data?.['node.toml'], 'the agent pod renders node.toml from a ConfigMap');
  return (parseToml(cm.data['node.toml']) as { port: number }).port;
}

describe('kubernetes manifests', () => {
  it('every document parses and has a known kind with its apiVersion, a name, and the namespace', () => {
    assert.ok(FILES.length >= 5);
    for (const { file, m } of all) {
      assert.ok(m.kind in API, `${file}: unexpected kind ${m.kind}`);
      assert.equal(m.apiVersion, API[m.kind], `${file}: ${m.kind} apiVersion`);
      if (m.kind === 'Kustomization') continue;
      assert.ok(m.metadata?.name, `${file}: ${m.kind} has a name`);
      if (m.kind !== 'Namespace') assert.equal(m.metadata.namespace, 'switchboard', `${file}: ${m.kind}/${m.metadata.name} namespace`);
    }
  });

  it('kustomization.yaml lists every manifest file', () => {
    const k = all.find(({ m }) => m.kind === 'Kustomization')!.m;
    assert.deepEqual([...(k.resources ?? [])].sort(), FILES.filter((f) => f !== 'kustomization.yaml'));
  });

  it('has a registry Deployment and Service, a router Deployment, Service and HPA, and an agent DaemonSet', () => {
    const kinds = (p: ProcessKind): string[] => workloads.filter(({ m }) => processOf(m.spec!.template!.spec.containers[0]!.args!) === p).map(({ m }) => m.kind);
    assert.deepEqual(kinds('registry'), ['Deployment']);
    assert.deepEqual(kinds('router'), ['Deployment']);
    assert.ok(['DaemonSet', 'StatefulSet'].includes(kinds('agent')[0]!));
    assert.ok(find('Service', 'switchboard-registry'));
    assert.ok(find('Service', 'switchboard-router'));
    const hpa = manifests.find(({ m }) => m.kind === 'HorizontalPodAutoscaler')!.m;
    assert.ok(find(hpa.spec!.scaleTargetRef!.kind, hpa.spec!.scaleTargetRef!.name), 'the HPA scales a workload that exists');
  });

  it('selectors match pod labels; each Service selects a workload and targets a named container port', () => {
    for (const { m } of workloads) {
      assert.ok(subset(m.spec!.selector!.matchLabels!, m.spec!.template!.metadata.labels), `${m.metadata.name}: selector ⊆ template labels`);
    }
    for (const { m } of manifests.filter(({ m }) => m.kind === 'Service')) {
      const sel = m.spec!.selector as Record<string, string>;
      const w = workloads.find(({ m: wm }) => subset(sel, wm.spec!.template!.metadata.labels));
      assert.ok(w, `Service ${m.metadata.name} selects a workload`);
      const ports = w.m.spec!.template!.spec.containers.flatMap((c) => c.ports ?? []);
      for (const p of m.spec!.ports!) {
        const target = ports.find((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort);
        assert.ok(target, `Service ${m.metadata.name} targetPort ${p.targetPort} is a container port`);
        assert.equal(p.port, target.containerPort, `Service ${m.metadata.name} keeps the process's port`);
      }
    }
    for (const { m } of manifests.filter(({ m }) => m.kind === 'PodDisruptionBudget')) {
      assert.ok(workloads.some(({ m: wm }) => subset(m.spec!.selector!.matchLabels!, wm.spec!.template!.metadata.labels)));
    }
  });

  it('probes use the endpoints each process serves, on the port it listens on', () => {
    for (const { m } of workloads) {
      const pod = m.spec!.template!.spec;
      for (const c of pod.containers) {
        const kind = processOf(c.args!);
        const port = kind === 'agent' ? processPort(kind, c.args!, agentEnginePort(pod)) : processPort(kind, c.args!);
        const contract = PROCESSES[kind];
        const probes = { livenessProbe: c.livenessProbe, readinessProbe: c.readinessProbe, startupProbe: c.startupProbe };
        assert.ok(c.livenessProbe && c.readinessProbe, `${m.metadata.name}: liveness and readiness probes`);
        for (const [which, probe] of Object.entries(probes)) {
          if (!probe) continue;
          const g = probe.httpGet;
          assert.ok(g, `${m.metadata.name} ${which} is an HTTP probe`);
          assert.ok(contract.health.includes(g.path), `${m.metadata.name} ${which}: ${g.path} is not a ${kind} endpoint`);
          const named = typeof g.port === 'string' ? c.ports?.find((p) => p.name === g.port)?.containerPort : g.port;
          assert.equal(named, port, `${m.metadata.name} ${which} port`);
        }
        assert.equal(c.livenessProbe.httpGet!.path, contract.liveness, `${m.metadata.name} liveness`);
        assert.equal(c.readinessProbe.httpGet!.path, contract.readiness, `${m.metadata.name} readiness`);
      }
    }
  });

  it('the router mounts the routing ConfigMap where --config points, and finds the registry by its Service', () => {
    const router = find('Deployment', 'switchboard-router')!.spec!.template!.spec;
    const c = router.containers[0]!;
    const cfg = flagValue(c.args!, '--config')!;
    const mount = c.volumeMounts!.find((v) => v.mountPath === dirname(cfg))!;
    const vol = router.volumes!.find((v) => v.name === mount.name)!;
    const cm = find('ConfigMap', vol.configMap!.name)!;
    assert.ok(cm.data?.[cfg.split('/').pop()!], `ConfigMap ${cm.metadata.name} has ${cfg}`);
    const reg = find('Service', 'switchboard-registry')!;
    assert.equal(flagValue(c.args!, '--registry-url'), `http://${reg.metadata.name}:${reg.spec!.ports![0]!.port}`);
  });

  it('the routing ConfigMap is deploy/config/routing.yaml, word for word', () => {
    const cm = find('ConfigMap', 'switchboard-routing')!;
    assert.equal(cm.data!['routing.yaml'], readFileSync(join(DEPLOY, 'config', 'routing.yaml'), 'utf8'));
  });

  it('the agent node config renders to a valid TOML that registers with the registry Service', () => {
    const cm = find('ConfigMap', 'switchboard-agent')!;
    const rendered = cm.data!['node.toml']!.replace('__NODE_NAME__', 'node-1').replace('__POD_IP__', '10.1.2.3');
    const node = parseToml(rendered) as { name: string; advertise_host: string; registry_url: string; port: number };
    assert.equal(node.advertise_host, '10.1.2.3');
    assert.equal(node.name, 'node-1');
    const reg = find('Service', 'switchboard-registry')!;
    assert.equal(node.registry_url, `http://${reg.metadata.name}:${reg.spec!.ports![0]!.port}`);
    const init = find('DaemonSet', 'switchboard-agent')!.spec!.template!.spec.initContainers![0]!;
    for (const placeholder of ['__NODE_NAME__', '__POD_IP__']) assert.ok(init.command!.join(' ').includes(placeholder), `the init container fills ${placeholder}`);
  });

  it('pods meet the restricted Pod Security Standard basics and take their tokens from one Secret', () => {
    for (const { m } of workloads) {
      const pod = m.spec!.template!.spec;
      assert.equal(pod.securityContext?.runAsNonRoot, true, m.metadata.name);
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', m.metadata.name);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${m.metadata.name}/${c.name}`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${m.metadata.name}/${c.name}`);
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          assert.equal(ref.name, 'switchboard-secrets', `${m.metadata.name}/${c.name} ${e.name}`);
          assert.ok(['token', 'admin-token'].includes(ref.key), `${m.metadata.name}/${c.name} ${e.name}: key ${ref.key}`);
        }
      }
    }
  });

  it('container args use only flags the commands have (for the commands that exist)', async (t) => {
    for (const { m } of workloads) {
      for (const c of m.spec!.template!.spec.containers) {
        const known = await commandFlags(c.args![0]!);
        if (!known) {
          t.diagnostic(`switchboard ${c.args![0]} does not exist yet; ${m.metadata.name}'s flags are not checked`);
          continue;
        }
        for (const f of flagsIn(c.args!)) assert.ok(known.has(f), `${m.metadata.name}: switchboard ${c.args![0]} has no ${f}`);
      }
    }
  });
});
