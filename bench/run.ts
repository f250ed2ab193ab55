// `npm run bench [-- <name>…]`: runs every benchmark module below in turn (or only the named
// ones). A module exports `run(): Promise<void>` and prints its own table; add one by adding a line.

interface BenchModule {
  run(): Promise<void>;
}

const BENCHES: { name: string; load: () => Promise<BenchModule> }[] = [
  { name: 'registry', load: () => import('./registry.js') },
  { name: 'router', load: () => import('./router.js') },
  { name: 'instructions', load: () => import('./instructions.js') },
  { name: 'routing', load: () => import('./routing.js') },
];

async function main(argv: string[]): Promise<number> {
  const wanted = argv.filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (have: ${BENCHES.map((b) => b.name).join(', ')})\n`);
    return 2;
  }
  for (const b of BENCHES) {
    if (wanted.length > 0 && !wanted.includes(b.name)) continue;
    process.stdout.write(`\n== ${b.name} ==\n`);
    const t0 = performance.now();
    await (await b.load()).run();
    process.stdout.write(`(${b.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
