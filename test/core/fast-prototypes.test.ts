import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

// V8's own view of a prototype's mode, asked in a child process that may use its natives syntax.
const PROTOTYPES = ['String', 'Array', 'Object', 'Function', 'Number', 'Uint8Array', 'Map', 'Set', 'Promise', 'Error', 'RegExp'];

function slowPrototypes(setup: string): string[] {
  const script = `${setup}
const slow = ${JSON.stringify(PROTOTYPES)}.filter((n) => !%HasFastProperties(globalThis[n].prototype));
process.stdout.write(JSON.stringify(slow));`;
  return JSON.parse(execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
}

const core = new URL('../../src/core/index.js', import.meta.url).href;

describe('core/fast-prototypes', () => {
  it('a subclass of String leaves String.prototype a dictionary; restoreFastStringPrototype makes it fast again', () => {
    assert.deepEqual(slowPrototypes('class Verbatim extends String {}'), ['String'], 'the V8 behaviour the helper exists for');
    assert.deepEqual(slowPrototypes(`import { restoreFastStringPrototype } from '${core}';\nclass Verbatim extends String {}\nrestoreFastStringPrototype();`), []);
  });

  // each long-running process's whole module graph (its dependencies included) loaded as the CLI
  // loads it: no built-in prototype is left slow, which would make the methods called on it
  // generic lookups in optimized code for the life of the process
  for (const command of ['router', 'registry', 'agent', 'sim']) {
    it(`the ${command} process's modules leave every built-in prototype fast`, () => {
      const mod = new URL(`../../src/cli/commands/${command}.js`, import.meta.url).href;
      assert.deepEqual(slowPrototypes(`await import('${mod}');`), []);
    });
  }
});
