import { sbError } from '../../core/index.js';
import { createKeyInFile, readKeysFile, revokeKeyInFile, type KeyEntry } from '../../gateway/keys-file.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { boolFlag, intFlag, listFlag, stringFlag } from '../flags.js';

function keysFile(ctx: CommandContext): string {
  const file = stringFlag(ctx.values, 'file') ?? (ctx.env.SWITCHBOARD_KEYS_FILE || undefined);
  if (!file) throw sbError('SB_ERR_USAGE', '--file <auth.yaml> is required (or set SWITCHBOARD_KEYS_FILE)');
  return file;
}

function requireName(ctx: CommandContext): string {
  const name = stringFlag(ctx.values, 'name');
  if (!name) throw sbError('SB_ERR_USAGE', '--name is required');
  return name;
}

function modelsText(models: KeyEntry['models']): string {
  return models === '*' ? '*' : models.join(',');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}

async function create(ctx: CommandContext): Promise<number> {
  const v = ctx.values;
  const file = keysFile(ctx);
  const name = requireName(ctx);
  const models = listFlag(v, 'models');
  const rpm = intFlag(v, 'rpm', 1);
  const tpm = intFlag(v, 'tpm', 1);
  const tenant = stringFlag(v, 'tenant');
  const { key, entry } = await createKeyInFile(file, {
    name,
    ...(tenant ? { tenant } : {}),
    models: !models || models.length === 0 || models.includes('*') ? '*' : models,
    limits: { ...(rpm ? { rpm } : {}), ...(tpm ? { tpm } : {}) },
    nowIso: new Date().toISOString(),
  });
  // the key alone on stdout (KEY=$(switchboard keys create ...)); everything else on stderr
  ctx.stdout.write(`${key}\n`);
  const limits = [entry.limits.rpm ? `rpm ${entry.limits.rpm}` : '', entry.limits.tpm ? `tpm ${entry.limits.tpm}` : ''].filter(Boolean).join(', ') || 'rate-limit config';
  ctx.stderr.write(
    `Created API key '${entry.name}'${entry.tenant ? ` (tenant ${entry.tenant})` : ''} in ${file}: models ${modelsText(entry.models)}, limits ${limits}.\n` +
      'Copy the key now: the file keeps only its SHA-256, so it cannot be shown again.\n',
  );
  return 0;
}

function list(ctx: CommandContext): number {
  const file = keysFile(ctx);
  const keys = readKeysFile(file).keys;
  if (boolFlag(ctx.values, 'json')) {
    const out = keys.map((k) => ({
      name: k.name,
      tenant: k.tenant ?? null,
      models: k.models,
      limits: k.limits,
      created_at: k.created_at ?? null,
      revoked: k.revoked,
      ...(k.revoked_at ? { revoked_at: k.revoked_at } : {}),
      hint: k.hint ?? null,
      sha256_prefix: k.sha256.slice(0, 8),
    }));
    ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  if (keys.length === 0) {
    ctx.stdout.write(`No keys in ${file}.\n`);
    return 0;
  }
  const rows = [['NAME', 'TENANT', 'MODELS', 'RPM', 'TPM', 'CREATED', 'STATUS', 'KEY', 'SHA256']];
  for (const k of keys) {
    rows.push([
      k.name,
      k.tenant ?? '-',
      modelsText(k.models),
      k.limits.rpm ? String(k.limits.rpm) : '-',
      k.limits.tpm ? String(k.limits.tpm) : '-',
      k.created_at ?? '-',
      k.revoked ? 'revoked' : 'active',
      k.hint ?? '-',
      `${k.sha256.slice(0, 8)}…`,
    ]);
  }
  ctx.stdout.write(table(rows));
  return 0;
}

async function revoke(ctx: CommandContext): Promise<number> {
  const file = keysFile(ctx);
  const name = requireName(ctx);
  const { alreadyRevoked } = await revokeKeyInFile(file, name, new Date().toISOString());
  ctx.stderr.write(alreadyRevoked ? `API key '${name}' was already revoked.\n` : `Revoked API key '${name}' in ${file}. Routers watching the file refuse it within seconds.\n`);
  return 0;
}

export const command: CommandSpec = {
  description: [
    'Manages the API keys file (auth.yaml) that the router reads and re-reads while it runs. Keys',
    'are stored as SHA-256 hashes; `create` prints the new key once, on stdout. The file is written',
    'atomically with mode 0600. Format: docs/configuration.md, "API keys and rate limits".',
  ].join('\n'),
  subcommands: {
    create: 'Add a key: --name N [--tenant T] [--models a,b] [--rpm N] [--tpm N]; prints the key',
    list: 'Show names, tenants, models, limits and status (never keys, never whole hashes)',
    revoke: 'Mark a key revoked: --name N (it stays in the file; its name stays taken)',
  },
  options: {
    file: { type: 'string', short: 'f', description: 'The keys file (or SWITCHBOARD_KEYS_FILE); create makes it if missing', valueName: 'auth.yaml' },
    name: { type: 'string', description: 'Key name (shown in logs, metrics and usage records)', valueName: 'name' },
    tenant: { type: 'string', description: 'Tenant or team the key belongs to', valueName: 'tenant' },
    models: { type: 'string', description: 'Models the key may use, comma-separated ("*" = all; "qwen-*" = a prefix)', valueName: 'a,b', defaultText: '*', multiple: true },
    rpm: { type: 'string', description: "The key's own requests-per-minute limit", valueName: 'n' },
    tpm: { type: 'string', description: "The key's own tokens-per-minute limit", valueName: 'n' },
    json: { type: 'boolean', description: 'list: print JSON' },
  },
  examples: [
    'switchboard keys create --file auth.yaml --name team-a --tenant acme --models chat,bge-m3 --rpm 600 --tpm 200000',
    'switchboard keys list --file auth.yaml',
    'switchboard keys revoke --file auth.yaml --name team-a',
  ],
  async run(ctx) {
    const [sub, ...extra] = ctx.positionals;
    if (extra.length > 0) throw sbError('SB_ERR_USAGE', `unexpected argument '${extra[0]}'`);
    switch (sub) {
      case 'create':
        return create(ctx);
      case 'list':
        return list(ctx);
      case 'revoke':
        return revoke(ctx);
      case undefined:
        throw sbError('SB_ERR_USAGE', 'a subcommand is required: create, list or revoke');
      default:
        throw sbError('SB_ERR_USAGE', `unknown subcommand '${sub}' (expected create, list or revoke)`);
    }
  },
};
