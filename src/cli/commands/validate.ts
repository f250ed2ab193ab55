// `switchboard validate`: the end-to-end validation pipeline (src/tools/validate/). PASS/FAIL per
// step as it goes, a summary line, exit 0 only when every step passed (1 on a failure, 130 when
// interrupted, 2 on a usage error).
import { sbError } from '../../core/index.js';
import { defaultValidateOptions, formatStep, formatSummary, pipelineSteps, runValidation } from '../../tools/validate/pipeline.js';
import type { CommandSpec } from '../command.js';
import { boolFlag, durationFlag, listFlag, stringFlag } from '../flags.js';

function url(flag: string, v: string | undefined): string | undefined {
  if (v !== undefined && !/^https?:\/\/[^/]/.test(v)) throw sbError('SB_ERR_USAGE', `--${flag}: expected an http:// or https:// URL, got '${v}'`);
  return v;
}

export const command: CommandSpec = {
  description: [
    "InfiniLM-SVC's validate_integration.py and integration test, against a running fleet",
    '(--registry and --router) or, by default, a fleet it starts itself on free ports (a registry,',
    'a router and the test backends, all stopped at the end). Either way it starts two',
    '`switchboard sim` test backends serving a model of their own, registers them, and checks:',
    'registry and router health, discovery, chat completions with and without streaming, the',
    'round-robin pattern [non-stream, non-stream, stream, stream], /v1/models, the error cases',
    '(unknown model 503, invalid JSON 400), deregistration (the router stops routing within a',
    'second) and clean-up. Exit code: 0 all passed; 1 a step failed; 130 interrupted.',
  ].join('\n'),
  options: {
    registry: { type: 'string', description: 'Registry of a running fleet', valueName: 'url' },
    router: { type: 'string', description: 'Router of a running fleet', valueName: 'url' },
    'self-contained': { type: 'boolean', description: 'Start a registry and a router too (the default without URLs)' },
    token: { type: 'string', description: 'Registry write token (or SWITCHBOARD_TOKEN)', valueName: 'token' },
    'admin-token': { type: 'string', description: "Router admin token for /services and /stats (or SWITCHBOARD_ADMIN_TOKEN)", valueName: 'token' },
    'api-key': { type: 'string', description: 'API key for the router\'s /v1 endpoints, when it requires keys', valueName: 'key' },
    'backend-host': { type: 'string', description: 'Address the test backends listen on and register under (the router must reach it)', valueName: 'addr', defaultText: '127.0.0.1' },
    model: { type: 'string', multiple: true, description: 'Also check this model of the fleet through the router (chat, stream); repeatable or comma-separated', valueName: 'id' },
    'discovery-timeout': { type: 'string', description: 'Longest wait for the router to see the test backends', valueName: 'seconds', defaultText: '10' },
    'removal-timeout': { type: 'string', description: 'Longest wait after a DELETE for the router to stop routing there', valueName: 'seconds', defaultText: '1' },
    timeout: { type: 'string', description: 'Timeout of each HTTP call', valueName: 'seconds', defaultText: '30' },
    json: { type: 'boolean', description: 'Print one JSON report at the end instead of lines' },
  },
  examples: [
    'switchboard validate',
    'switchboard validate --registry http://127.0.0.1:8081 --router http://127.0.0.1:8080 --model qwen3-32b',
    'switchboard validate --json | jq \'.steps[] | select(.status != "PASS")\'',
  ],
  async run(ctx) {
    const v = ctx.values;
    const registryUrl = url('registry', stringFlag(v, 'registry'));
    const routerUrl = url('router', stringFlag(v, 'router'));
    const selfContained = boolFlag(v, 'self-contained') === true || (registryUrl === undefined && routerUrl === undefined);
    if (selfContained && (registryUrl !== undefined || routerUrl !== undefined)) throw sbError('SB_ERR_USAGE', '--self-contained starts its own registry and router: leave out --registry and --router');
    if (!selfContained && (registryUrl === undefined || routerUrl === undefined)) throw sbError('SB_ERR_USAGE', `a running fleet needs both --registry and --router (missing --${registryUrl === undefined ? 'registry' : 'router'})`);
    const o = defaultValidateOptions({
      registryUrl,
      routerUrl,
      selfContained,
      token: stringFlag(v, 'token') ?? (ctx.env.SWITCHBOARD_TOKEN || undefined),
      adminToken: stringFlag(v, 'admin-token') ?? (ctx.env.SWITCHBOARD_ADMIN_TOKEN || undefined),
      apiKey: stringFlag(v, 'api-key'),
      backendHost: stringFlag(v, 'backend-host') ?? '127.0.0.1',
      models: listFlag(v, 'model') ?? [],
      discoveryTimeoutMs: durationFlag(v, 'discovery-timeout') ?? 10_000,
      removalTimeoutMs: durationFlag(v, 'removal-timeout') ?? 1_000,
      timeoutMs: durationFlag(v, 'timeout') ?? 30_000,
    });
    if (selfContained) {
      // the fleet started here is loopback-only and has no tokens
      o.token = undefined;
      o.adminToken = undefined;
      o.apiKey = undefined;
    }
    const json = boolFlag(v, 'json') === true;
    const width = Math.max(...pipelineSteps(o).map((s) => s.title.length));
    if (!json) {
      ctx.stdout.write(
        selfContained
          ? 'switchboard validate: a fleet of its own (registry, router, two sim backends) on free ports\n'
          : `switchboard validate: registry ${registryUrl!}, router ${routerUrl!}\n`,
      );
    }
    const report = await runValidation(o, { signal: ctx.signal, onStep: json ? undefined : (r) => ctx.stdout.write(`${formatStep(r, width)}\n`) });
    if (json) ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else ctx.stdout.write(`${formatSummary(report)}\n`);
    if (report.interrupted) return 130;
    return report.ok ? 0 : 1;
  },
};
