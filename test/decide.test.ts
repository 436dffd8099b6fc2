/** The rebuilder's answers (engine/decide.ts), from what the last build left and the cache holds. */
import { describe, expect, it } from 'vitest';
import { decide, type DecideIO } from '../src/engine/decide.js';
import type { ActionRecord, NodeState } from '../src/store/index.js';

const prev = (key: string): NodeState => ({ key, status: 'ok', files: {}, meta: {}, out: { 'build/a.s': [1, 2, 3] } });
const rec = (key: string): ActionRecord => ({ key, keyRecord: {}, target: 't', kind: 'k', status: 'ok', files: {}, meta: {}, createdAt: '', durationMs: 0 });

function io(over: Partial<DecideIO> & { records?: string[] } = {}): DecideIO & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    outputsDamage: over.outputsDamage ?? (() => undefined),
    cached: async (k) => {
      asked.push(k);
      return over.records?.includes(k) ? rec(k) : undefined;
    },
    explain: over.explain,
  };
}

describe('decide', () => {
  it('same key and intact outputs: up to date, and the cache is not asked', async () => {
    const x = io({ records: ['k1'] });
    expect(await decide({ key: 'k1', prev: prev('k1'), force: false }, x)).toEqual({ action: 'up-to-date', prev: prev('k1') });
    expect(x.asked).toEqual([]);
  });

  it('same key but an output modified: restored from the cache, with the reason', async () => {
    const x = io({ records: ['k1'], outputsDamage: () => 'build/a.s was modified', explain: async () => ['outputs in the work tree are missing or modified'] });
    const d = await decide({ key: 'k1', prev: prev('k1'), force: false }, x);
    expect(d).toMatchObject({ action: 'cached', why: ['outputs in the work tree are missing or modified'] });
    expect(x.asked).toEqual(['k1']);
  });

  it('a new key the cache has: cached; one it lacks: run', async () => {
    expect((await decide({ key: 'k2', prev: prev('k1'), force: false }, io({ records: ['k2'] }))).action).toBe('cached');
    expect(await decide({ key: 'k3', prev: prev('k1'), force: false }, io({ records: ['k2'] }))).toEqual({ action: 'run', why: undefined });
  });

  it('--force runs whatever the work tree and the cache hold, and says so', async () => {
    const x = io({ records: ['k1'], explain: async () => ['never asked'] });
    expect(await decide({ key: 'k1', prev: prev('k1'), force: true }, x)).toEqual({ action: 'run', why: ['--force'] });
    expect(x.asked).toEqual([]);
  });

  it('reasons only when asked for (a real build without --explain computes none)', async () => {
    expect(await decide({ key: 'k1', force: false }, io({ explain: async () => ['no previous build of this node'] }))).toEqual({ action: 'run', why: ['no previous build of this node'] });
    expect(await decide({ key: 'k1', force: false }, io())).toEqual({ action: 'run', why: undefined });
  });
});
