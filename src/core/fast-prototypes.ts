// V8 keeps String.prototype in "fast" mode (its methods at fixed places, so optimized code takes
// `text.indexOf` as a constant and calls it directly) until something makes it the prototype of a
// new class. Then V8 turns it into a dictionary for the class's set-up, and turns it back only when
// an inline cache misses on an object whose prototype chain holds it: a string *object*, never a
// primitive string. ioredis declares `class VerbatimString extends String`, and the router and the
// registry only ever call methods on primitive strings, so String.prototype stayed a dictionary for
// the life of the process and every string method call in optimized code became a generic lookup:
// the router's two head parsers spent about 5% of its CPU in V8's LoadIC (perf), and a head parse
// took twice as long with the class declared as without it (microbenchmark). core/redis.ts, the one
// import of ioredis, calls this after loading it; test/core/fast-prototypes.test.ts checks that
// every process's module graph ends with the prototypes fast.

/** One property load, on whatever object it is given: its inline cache is the one that misses. */
function loadIndexOf(o: { indexOf?: unknown }): unknown {
  return o.indexOf;
}

/**
 * Turns String.prototype back into fast mode if a subclass of String (declared by a dependency)
 * left it a dictionary. Cheap (a few dozen property loads) and harmless when it is fast already.
 */
export function restoreFastStringPrototype(): void {
  // a String wrapper object: loads on it go through String.prototype, and once the function has
  // its feedback vector (after a few calls) a miss there makes the prototype fast again
  const wrapper = Object('') as { indexOf?: unknown };
  for (let i = 0; i < 64; i++) loadIndexOf(wrapper);
}
