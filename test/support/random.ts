/** Seeded randomness for the fault-injection tests: every run prints its seed so a failure can be replayed. */

/** ASMGRAPH_SEED, or a fresh seed. */
export const SEED = Number(process.env.ASMGRAPH_SEED ?? Date.now() % 100000);

/** A small deterministic generator (an LCG) in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
