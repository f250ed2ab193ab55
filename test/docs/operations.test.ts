// docs/operations.md is only useful if its commands work. This runs every `bash` block of the
// guide's procedure sections, in order, in one bash session (variables and the working folder
// carry over, as for an operator following along), against the fleet the guide itself starts,
// moved to free ports (8080-8119 in the text become base..base+39). Each command must exit 0,
// or with the code its comment announces (`# exit code 1: ...`); a grep may also find nothing
// (exit 1). Then a few outputs are checked: the guide's drills must show what they say.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/core/index.js';
import { CLI, runSwitchboard } from '../helpers/process.js';
import { requireTool } from '../helpers/services.js';

const DOC = join(packageRoot(), 'docs', 'operations.md');

/**
 * The sections this test runs: the procedure sections, written against the guide's own fleet
 * (Deployment needs systemd, Docker or a cluster; Starting and stopping runs the demo fleet).
 */
export const RUN_SECTIONS = ['Working on a running fleet', 'Health checks', 'Checking the fleet', 'Metrics during an incident', 'Logs', 'Common problems', 'Backup and restore', 'Recovery drills'];

export interface GuideCommand {
  section: string;
  text: string;
  /** Exit codes accepted. */
  expect: number[];
}

/** The `bash` blocks of the given `## ` sections, split into commands (continuations and heredocs kept whole). */
export function guideCommands(doc: string, sections: readonly string[]): GuideCommand[] {
  const out: GuideCommand[] = [];
  let section = '';
  let block: string[] | undefined;
  for (const line of doc.split('\n')) {
    if (block) {
      if (line.startsWith('```')) {
        if (sections.includes(section)) out.push(...splitBlock(block).map((text) => ({ section, text, expect: expected(text) })));
        block = undefined;
      } else {
        block.push(line);
      }
      continue;
    }
    const h = /^## (.+)$/.exec(line);
    if (h) section = h[1]!.trim();
    else if (line.startsWith('```bash')) block = [];
  }
  return out;
}

function splitBlock(lines: string[]): string[] {
  const cmds: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (first.trim() === '' || first.trim().startsWith('#')) continue;
    let cmd = first;
    while (cmd.endsWith('\\') && i + 1 < lines.length) cmd += `\n${lines[++i]!}`;
    const here = /<<-?\s*'?([A-Za-z_]+)'?/.exec(cmd);
    if (here) {
      while (i + 1 < lines.length) {
        const l = lines[++i]!;
        cmd += `\n${l}`;
        if (l.trim() === here[1]) break;
      }
    }
    cmds.push(cmd);
  }
  return cmds;
}

function expected(text: string): number[] {
  const firstLine = text.split('\n')[0]!;
  const announced = /#\s*exit code (\d+)/.exec(firstLine);
  if (announced) return [Number(announced[1])];
  return /^grep\b/.test(text.trim()) ? [0, 1] : [0];
}

async function freeBase(count: number): Promise<number> {
  const bindable = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await bindable(p);
    if (ok) return base;
  }
  throw new Error('no free port range');
}

/** One bash process; run() sends a command and resolves with its output and exit code. */
function bashSession(env: NodeJS.ProcessEnv, cwd: string): { run(cmd: string, timeoutMs: number): Promise<{ code: number; output: string }>; close(): void } {
  const bash = spawn('bash', ['--noprofile', '--norc'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let waiter: (() => void) | undefined;
  const onData = (d: Buffer): void => {
    buf += d.toString('utf8');
    waiter?.();
  };
  bash.stdout.on('data', onData);
  bash.stderr.on('data', onData);
  let n = 0;
  return {
    run(cmd, timeoutMs) {
      const id = `__SB_DONE_${n++}__`;
      const start = buf.length;
      // stdin of the command is /dev/null: nothing it runs may eat the next commands
      bash.stdin.write(`{\n${cmd}\n} </dev/null 2>&1\nprintf '\\n${id} %s\\n' $?\n`);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`timed out after ${timeoutMs} ms: ${cmd}\n${buf.slice(start)}`));
        }, timeoutMs);
        waiter = () => {
          const m = new RegExp(`\\n${id} (\\d+)\\n`).exec(buf.slice(start));
          if (!m) return;
          clearTimeout(timer);
          waiter = undefined;
          resolve({ code: Number(m[1]), output: buf.slice(start, start + m.index) });
        };
        waiter();
      });
    },
    close() {
      bash.stdin.end();
      bash.kill('SIGKILL');
    },
  };
}

describe('docs/operations.md', () => {
  const doc = readFileSync(DOC, 'utf8');
  const commands = guideCommands(doc, RUN_SECTIONS);

  it('has a runnable bash block in each procedure section', () => {
    for (const s of RUN_SECTIONS) assert.ok(commands.some((c) => c.section === s), `no bash commands under "## ${s}"`);
    assert.ok(commands.length >= 60, `${commands.length} commands`);
  });

  it('every command of the procedure sections works, as written, against the fleet the guide starts', { timeout: 600_000 }, async (t) => {
    if (!requireTool(t, 'curl') || !requireTool(t, 'jq')) return;
    const home = mkdtempSync(join(tmpdir(), 'sb-ops-guide-'));
    const bin = join(home, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'switchboard'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'switchboard'), 0o755);
    // SWITCHBOARD_OPS_BASE_PORT=8080 runs the commands exactly as written (when those ports are free)
    const base = process.env.SWITCHBOARD_OPS_BASE_PORT ? Number(process.env.SWITCHBOARD_OPS_BASE_PORT) : await freeBase(40);
    const port = (text: string): string => text.replace(/\b(80[89]\d|81[01]\d)\b/g, (p) => String(base + Number(p) - 8080));
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH ?? ''}`, SWITCHBOARD_LOG_LEVEL: 'info' };
    for (const k of ['SWITCHBOARD_TOKEN', 'SWITCHBOARD_ADMIN_TOKEN', 'SWITCHBOARD_REGISTRY_URL', 'SWITCHBOARD_ROUTER_URL', 'SWITCHBOARD_USAGE_DB', 'NO_COLOR']) delete env[k];
    const session = bashSession(env, home);
    t.after(async () => {
      session.close();
      await runSwitchboard(['fleet', 'stop-all'], { cwd: join(home, 'switchboard-ops'), timeoutMs: 60_000 }).catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    });

    const results: Array<GuideCommand & { code: number; output: string }> = [];
    const failures: string[] = [];
    for (const c of commands) {
      const r = await session.run(port(c.text), 120_000);
      results.push({ ...c, ...r });
      if (!c.expect.includes(r.code)) failures.push(`[${c.section}] exit ${r.code} (expected ${c.expect.join(' or ')}): ${c.text}\n${r.output.trim().split('\n').slice(-15).join('\n')}`);
    }
    // SWITCHBOARD_OPS_TRANSCRIPT=<file>: every command as run, its exit code and output (for review)
    const transcript = process.env.SWITCHBOARD_OPS_TRANSCRIPT;
    if (transcript) writeFileSync(transcript, results.map((r) => `$ ${port(r.text)}\n${r.output.trim()}\n[exit ${r.code}]\n`).join('\n'));
    assert.deepEqual(failures, [], `commands that failed:\n\n${failures.join('\n\n')}`);

    const outputOf = (needle: string, after?: string): string => {
      const from = after === undefined ? 0 : results.findIndex((r) => r.text.includes(after));
      assert.ok(from >= 0, `the guide runs a command containing ${after}`);
      const found = results.slice(from).find((r) => r.text.includes(needle));
      assert.ok(found, `the guide runs a command containing ${needle}${after ? ` after ${after}` : ''}`);
      return found.output;
    };
    // the guide's demonstrations show what the text says they show
    assert.match(outputOf('"model":"qwen3-32b"'), /No healthy services available for model 'qwen3-32b'/);
    assert.match(outputOf('"stream":true'), /SB_ERR_STREAM_CUT/);
    assert.match(outputOf('for i in $(seq 40)'), /\d+ 429/);
    assert.match(outputOf("jq -r '.status, .reasons[]'", 'kill -9 $(cat run/registry.pid)'), /^degraded$[\s\S]*^registry .* unreachable: routing on the last known services$/m);
    assert.match(outputOf('"msg":"registry snapshot restored"'), /"services":\d+/);
    assert.match(outputOf('jq -r .status)" = ok ]', 'switchboard fleet start-registry'), /^ok$/m);
    assert.match(outputOf('"msg":"backend ejected (passive health)"', '"errorRate":1'), /chat-a-server/);
    assert.match(outputOf('"msg":"backend re-admitted after a good probe"', '"errorRate":1'), /chat-a-server/);
    assert.match(outputOf('(exited|is ready)'), /exited \(code 70\)[\s\S]*is ready/);
    assert.match(outputOf('--only registry,usage'), /restored router\/usage\.db -> .*data\/router\/usage\.db/);
    // drill 3: the restored usage database holds at least the rows the backup counted
    const backedUp = Number(/(\d+) rows/.exec(outputOf("--list | grep -E 'services|rows'"))?.[1]);
    const requests = Number(/REQUESTS.*\n\s*(\d+)\s/.exec(outputOf('--by none'))?.[1]);
    assert.ok(backedUp > 0 && requests >= backedUp, `usage after the restore: ${requests} requests, backup: ${backedUp} rows`);
  });
});
