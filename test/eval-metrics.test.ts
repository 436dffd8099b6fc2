import { describe, expect, it } from 'vitest';
import { passAtK, reachedStage, summarize, VERDICTS, type MetricSample, type Verdict } from '../src/eval/metrics.js';

/** Exact C(n, k) with BigInt, as a cross-check of the product form. */
function choose(n: number, k: number): bigint {
  if (k < 0 || k > n) return 0n;
  let r = 1n;
  for (let i = 1; i <= k; i++) r = (r * BigInt(n - k + i)) / BigInt(i);
  return r;
}

describe('passAtK', () => {
  it('matches hand-computed values', () => {
    // n=5, c=2, k=1: 1 - C(3,1)/C(5,1) = 1 - 3/5 = 2/5
    expect(passAtK(5, 2, 1)).toBeCloseTo(2 / 5, 15);
    // n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 7/10
    expect(passAtK(5, 2, 2)).toBeCloseTo(7 / 10, 15);
    // n=10, c=0: no correct sample, 0 for every k
    expect(passAtK(10, 0, 1)).toBe(0);
    expect(passAtK(10, 0, 10)).toBe(0);
    // n=3, c=3: all correct, 1 for every k
    expect(passAtK(3, 3, 1)).toBe(1);
    expect(passAtK(3, 3, 3)).toBe(1);
    // n=10, c=5, k=3: 1 - C(5,3)/C(10,3) = 1 - 10/120 = 11/12
    expect(passAtK(10, 5, 3)).toBeCloseTo(11 / 12, 15);
    // pass@1 is c/n
    expect(passAtK(7, 3, 1)).toBeCloseTo(3 / 7, 15);
  });

  it('is 1 when n - c < k (every k-subset contains a correct sample)', () => {
    // n=5, c=3, k=3: C(2,3) = 0 → 1
    expect(passAtK(5, 3, 3)).toBe(1);
    expect(passAtK(4, 1, 4)).toBe(1);
    // boundary n - c = k: 1 - 1/C(n,k); n=5, c=2, k=3 → 1 - C(3,3)/C(5,3) = 1 - 1/10
    expect(passAtK(5, 2, 3)).toBeCloseTo(9 / 10, 15);
  });

  it('agrees with exact BigInt binomials, and stays finite for large n', () => {
    for (const [n, c, k] of [
      [20, 7, 5],
      [50, 1, 10],
      [100, 37, 10],
      [200, 3, 100],
    ] as const) {
      const exact = 1 - Number((choose(n - c, k) * 10n ** 15n) / choose(n, k)) / 1e15;
      expect(passAtK(n, c, k)).toBeCloseTo(exact, 12);
    }
    const big = passAtK(1000, 10, 100);
    expect(Number.isFinite(big)).toBe(true);
    expect(big).toBeGreaterThan(0);
    expect(big).toBeLessThan(1);
  });

  it('rejects invalid arguments', () => {
    expect(() => passAtK(5, 6, 1)).toThrow(RangeError);
    expect(() => passAtK(5, -1, 1)).toThrow(RangeError);
    expect(() => passAtK(5, 2, 0)).toThrow(RangeError);
    expect(() => passAtK(5, 2, 6)).toThrow(RangeError);
    expect(() => passAtK(5, 2.5, 1)).toThrow(RangeError);
    expect(() => passAtK(0, 0, 1)).toThrow(RangeError);
  });
});

describe('reachedStage', () => {
  it('stages are cumulative', () => {
    const table: Record<Verdict, [boolean, boolean, boolean, boolean, boolean]> = {
      'no-asm': [false, false, false, false, false],
      'assemble-error': [true, false, false, false, false],
      'link-error': [true, true, false, false, false],
      crash: [true, true, true, false, false],
      timeout: [true, true, true, false, false],
      'output-mismatch': [true, true, true, true, false],
      ok: [true, true, true, true, true],
    };
    for (const v of VERDICTS) {
      expect((['extracted', 'assembles', 'links', 'runs', 'matches'] as const).map((s) => reachedStage(v, s))).toEqual(table[v]);
    }
  });
});

describe('summarize', () => {
  const s = (model: string, prompt: string, verdict: Verdict, usage?: { input: number; output: number }): MetricSample => ({
    model,
    prompt,
    verdict,
    ...(usage ? { usage } : {}),
  });

  // Model "ft": 2 prompts × 3 samples. p1: ok, ok, output-mismatch. p2: crash, ok, link-error.
  // Model "base": p1: no-asm, assemble-error, assemble-error. p2: timeout, no-asm, output-mismatch.
  const samples: MetricSample[] = [
    s('ft', 'p1', 'ok', { input: 100, output: 1000 }),
    s('ft', 'p1', 'ok', { input: 100, output: 1000 }),
    s('ft', 'p1', 'output-mismatch', { input: 100, output: 1000 }),
    s('ft', 'p2', 'crash', { input: 200, output: 2000 }),
    s('ft', 'p2', 'ok', { input: 200, output: 2000 }),
    s('ft', 'p2', 'link-error', { input: 200, output: 2000 }),
    s('base', 'p1', 'no-asm', { input: 50, output: 500 }),
    s('base', 'p1', 'assemble-error', { input: 50, output: 500 }),
    s('base', 'p1', 'assemble-error'),
    s('base', 'p2', 'timeout', { input: 50, output: 500 }),
    s('base', 'p2', 'no-asm', { input: 50, output: 500 }),
    s('base', 'p2', 'output-mismatch', { input: 50, output: 500 }),
  ];

  it('counts, rates, pass@1 and pass@k per model', () => {
    const m = summarize(samples, {
      k: 2,
      models: ['base', 'ft', 'other'],
      prices: { ft: { input: 0.3, output: 1.2 }, base: { input: 0.15, output: 0.6 } },
    });
    expect(m.k).toBe(2);
    expect(m.models.map((x) => x.model)).toEqual(['base', 'ft', 'other']);
    const [base, ft, other] = m.models as [any, any, any];

    expect(ft.samples).toBe(6);
    expect(ft.prompts).toBe(2);
    expect(ft.verdicts).toEqual({ 'no-asm': 0, 'assemble-error': 0, 'link-error': 1, crash: 1, timeout: 0, 'output-mismatch': 1, ok: 3 });
    // extracted 6, assembles 6, links 5 (one link-error), runs 4 (minus the crash), matches 3
    expect(ft.counts).toEqual({ extracted: 6, assembles: 6, links: 5, runs: 4, matches: 3 });
    expect(ft.rates.extracted).toBe(1);
    expect(ft.rates.links).toBeCloseTo(5 / 6, 15);
    expect(ft.rates.runs).toBeCloseTo(4 / 6, 15);
    expect(ft.rates.matches).toBe(0.5);
    // pass@1: p1 2/3, p2 1/3 → mean 1/2
    expect(ft.passAt1).toBeCloseTo(1 / 2, 15);
    // pass@2 (n=3): p1 c=2 → n-c=1 < 2 → 1; p2 c=1 → 1 - C(2,2)/C(3,2) = 1 - 1/3 = 2/3; mean 5/6
    expect(ft.passAtK).toBeCloseTo(5 / 6, 15);
    expect(ft.passAtKPrompts).toBe(2);
    expect(ft.promptsSolved).toBe(2);
    // tokens: 3×100 + 3×200 = 900 in, 9000 out; cost 900×0.3/1e6 + 9000×1.2/1e6 = 0.00027 + 0.0108
    expect(ft.tokens).toEqual({ input: 900, output: 9000, samplesWithUsage: 6 });
    expect(ft.cost.input).toBeCloseTo(0.00027, 12);
    expect(ft.cost.output).toBeCloseTo(0.0108, 12);
    expect(ft.cost.total).toBeCloseTo(0.01107, 12);

    // base: extracted 4 (two no-asm), assembles 2, links 2, runs 1 (timeout), matches 0
    expect(base.counts).toEqual({ extracted: 4, assembles: 2, links: 2, runs: 1, matches: 0 });
    expect(base.rates.extracted).toBeCloseTo(4 / 6, 15);
    expect(base.rates.assembles).toBeCloseTo(2 / 6, 15);
    expect(base.rates.runs).toBeCloseTo(1 / 6, 15);
    expect(base.rates.matches).toBe(0);
    expect(base.passAt1).toBe(0);
    expect(base.passAtK).toBe(0);
    expect(base.promptsSolved).toBe(0);
    // one sample without usage
    expect(base.tokens).toEqual({ input: 250, output: 2500, samplesWithUsage: 5 });
    expect(base.cost.total).toBeCloseTo((250 * 0.15 + 2500 * 0.6) / 1e6, 15);

    // a listed model with no samples: zero counts, null pass rates, no price → null cost
    expect(other.samples).toBe(0);
    expect(other.rates).toEqual({ extracted: 0, assembles: 0, links: 0, runs: 0, matches: 0 });
    expect(other.passAt1).toBeNull();
    expect(other.passAtK).toBeNull();
    expect(other.cost).toBeNull();
  });

  it('pass@k skips prompts with fewer than k samples', () => {
    const m = summarize(
      [s('a', 'p1', 'ok'), s('a', 'p1', 'crash'), s('a', 'p1', 'crash'), s('a', 'p2', 'ok')],
      { k: 3 },
    );
    const a = m.models[0]!;
    // pass@1: p1 1/3, p2 1/1 → 2/3; pass@3 only over p1 (n=3, c=1, n-c=2 < 3 → 1)
    expect(a.passAt1).toBeCloseTo(2 / 3, 15);
    expect(a.passAtK).toBe(1);
    expect(a.passAtKPrompts).toBe(1);
    // models in first-appearance order, default k = 5
    expect(summarize([s('z', 'p', 'ok'), s('y', 'p', 'ok')]).models.map((x) => [x.model, x.k, x.passAtK])).toEqual([
      ['z', 5, null],
      ['y', 5, null],
    ]);
  });

  it('rejects unknown verdicts and bad k', () => {
    expect(() => summarize([{ model: 'a', prompt: 'p', verdict: 'fine' as Verdict }])).toThrow(TypeError);
    expect(() => summarize([], { k: 0 })).toThrow(RangeError);
  });
});
