// `switchboard status`: the fleet at a glance (src/tools/status.ts). Exit 0 when everything is
// up, 1 when something is down, so a cron job can run it like the seeds' health_check.sh.
import { sbError, systemClock } from '../../core/index.js';
import { formatStatus } from '../../tools/status-format.js';
import { collectStatus } from '../../tools/status.js';
import { untilAborted, type CommandSpec } from '../command.js';
import { boolFlag, durationFlag, stringFlag } from '../flags.js';

const CLEAR_SCREEN = '\x1b[2J\x1b[H';

export const command: CommandSpec = {
  args: '[--watch [seconds]]',
  description: [
    'Reads the registry (records, leases, probes, load) and the router (its view of each backend,',
    'request and error counts, readiness) and prints one row per service, a health line for each,',
    'the problems found and a summary. With neither --registry nor --router it checks both at their',
    'default addresses; with one of them, only that one. Exit code: 0 all up; 1 something is down',
    '(registry or router unreachable, a service unhealthy or failed, router readiness not ok, no',
    'services at all); 2 usage error.',
  ].join('\n'),
  options: {
    registry: { type: 'string', description: 'Registry URL (or SWITCHBOARD_REGISTRY_URL)', valueName: 'url', defaultText: 'http://localhost:8081' },
    router: { type: 'string', description: 'Router URL (or SWITCHBOARD_ROUTER_URL)', valueName: 'url', defaultText: 'http://localhost:8080' },
    token: { type: 'string', description: "Router admin token for /stats, also sent to the registry (or SWITCHBOARD_ADMIN_TOKEN)", valueName: 'token' },
    json: { type: 'boolean', description: 'Print JSON (one object per refresh with --watch)' },
    watch: { type: 'boolean', description: 'Refresh every [seconds] (default 2) until Ctrl-C' },
    timeout: { type: 'string', description: 'Timeout of each HTTP call', valueName: 'seconds', defaultText: '5' },
  },
  examples: [
    'switchboard status',
    'switchboard status --registry http://10.0.0.1:8081 --router http://10.0.0.1:8080 --token "$ADMIN"',
    'switchboard status --json | jq \'.services[] | select(.ok == false)\'',
    'switchboard status --watch 5',
    '*/5 * * * * switchboard status > /var/log/switchboard-status.log || mail -s "fleet down" ops < /var/log/switchboard-status.log',
  ],
  async run(ctx) {
    const v = ctx.values;
    const regFlag = stringFlag(v, 'registry');
    const routerFlag = stringFlag(v, 'router');
    const neither = regFlag === undefined && routerFlag === undefined;
    const registryUrl = regFlag ?? (neither ? ctx.env.SWITCHBOARD_REGISTRY_URL || 'http://localhost:8081' : undefined);
    const routerUrl = routerFlag ?? (neither ? ctx.env.SWITCHBOARD_ROUTER_URL || 'http://localhost:8080' : undefined);
    for (const [flag, url] of [['registry', registryUrl], ['router', routerUrl]] as const) {
      if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) throw sbError('SB_ERR_USAGE', `--${flag}: expected an http:// or https:// URL, got '${url}'`);
    }
    const watch = boolFlag(v, 'watch') === true;
    const [secondsText] = ctx.positionals;
    if (secondsText !== undefined && !watch) throw sbError('SB_ERR_USAGE', `unexpected argument '${secondsText}' (a refresh interval goes after --watch)`);
    if (ctx.positionals.length > 1) throw sbError('SB_ERR_USAGE', `unexpected argument '${ctx.positionals[1]}'`);
    const intervalMs = secondsText === undefined ? 2000 : durationFlag({ watch: secondsText }, 'watch')!;
    const timeoutMs = durationFlag(v, 'timeout') ?? 5000;
    const token = stringFlag(v, 'token') ?? (ctx.env.SWITCHBOARD_ADMIN_TOKEN || ctx.env.SWITCHBOARD_TOKEN || undefined);
    const json = boolFlag(v, 'json') === true;
    const clock = systemClock;

    let code = 1;
    for (;;) {
      const status = await Promise.race([collectStatus({ registryUrl, routerUrl, token, timeoutMs, clock }), untilAborted(ctx.signal)]);
      if (!status) return code;
      code = status.ok ? 0 : 1;
      if (json) ctx.stdout.write(`${JSON.stringify(status, null, watch ? undefined : 2)}\n`);
      else ctx.stdout.write(`${watch ? CLEAR_SCREEN : ''}${formatStatus(status)}${watch ? `\nRefreshing every ${intervalMs / 1000}s; Ctrl-C to stop.\n` : ''}`);
      if (!watch) return code;
      try {
        await clock.sleep(intervalMs, ctx.signal);
      } catch {
        return code;
      }
    }
  },
};
