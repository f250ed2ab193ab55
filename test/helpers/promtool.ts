// Runs the real `promtool check metrics` on an exposition text.
import { spawnSync } from 'node:child_process';
import { toolPath } from './services.js';

export function promtoolCheckMetrics(text: string): { ok: boolean; output: string } {
  const r = spawnSync(toolPath('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}
