/** The scheduler alone: no disk, no processes. */
import { describe, expect, it } from 'vitest';
import { Pools, Scheduler } from '../src/engine/scheduler.js';

/** A node that finishes when the test says so. */
function gate() {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const p = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { p, open, fail };
}

describe('Scheduler', () => {
  it('runs a node only after its dependencies, and independent nodes in parallel', async () => {
    const s = new Scheduler({ keepGoing: false });
    const log: string[] = [];
    const a = gate();
    const b = gate();
    s.add({ id: 'a', deps: [], run: async () => { log.push('a+'); await a.p; log.push('a-'); } });
    s.add({ id: 'b', deps: [], run: async () => { log.push('b+'); await b.p; log.push('b-'); } });
    s.add({ id: 'c', deps: ['a', 'b'], run: async () => { log.push('c'); } });
    const done = s.run();
    await Promise.resolve();
    expect(log).toEqual(['a+', 'b+']);
    b.open();
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a+', 'b+', 'b-']);
    a.open();
    expect(await done).toEqual({ done: 3, failed: [], skipped: [] });
    expect(log).toEqual(['a+', 'b+', 'b-', 'a-', 'c']);
  });

  it('lets a running node add nodes (a collection that grows), including ones depending on not-yet-added nodes', async () => {
    const s = new Scheduler({ keepGoing: false });
    const ran: string[] = [];
    s.add({ id: 'sink', deps: ['gen', 'item2'], run: async () => { ran.push('sink'); } });
    s.add({
      id: 'gen', deps: [], run: async () => {
        ran.push('gen');
        for (const i of [1, 2]) s.add({ id: `item${i}`, deps: ['gen'], run: async () => { ran.push(`item${i}`); } });
      },
    });
    const r = await s.run();
    expect(r.done).toBe(4);
    expect(ran.indexOf('sink')).toBeGreaterThan(ran.indexOf('item2'));
  });

  it('after a failure starts nothing new (running work finishes); -k goes on with what does not depend on it', async () => {
    for (const keepGoing of [false, true]) {
      const s = new Scheduler({ keepGoing });
      const ran: string[] = [];
      const slow = gate();
      s.add({ id: 'bad', deps: [], run: async () => { throw new Error('boom'); } });
      s.add({ id: 'slow', deps: [], run: async () => { await slow.p; ran.push('slow'); } });
      s.add({ id: 'after-bad', deps: ['bad'], run: async () => { ran.push('after-bad'); } });
      s.add({ id: 'after-slow', deps: ['slow'], run: async () => { ran.push('after-slow'); } });
      const done = s.run();
      await new Promise((r) => setImmediate(r));
      slow.open();
      const r = await done;
      expect(r.failed.map((f) => f.id)).toEqual(['bad']);
      expect(ran).toEqual(keepGoing ? ['slow', 'after-slow'] : ['slow']);
      expect(r.skipped.sort()).toEqual(keepGoing ? ['after-bad'] : ['after-bad', 'after-slow']);
    }
  });

  it('finishes with the nodes whose dependency never appeared marked skipped', async () => {
    const s = new Scheduler({ keepGoing: false });
    s.add({ id: 'orphan', deps: ['never'], run: async () => {} });
    expect(await s.run()).toEqual({ done: 0, failed: [], skipped: ['orphan'] });
  });
});

describe('Pools', () => {
  it('caps each pool separately, so CPU and LLM work overlap', async () => {
    const pools = new Pools({ cpu: 2, llm: 3 });
    const gates = Array.from({ length: 10 }, () => gate());
    const all = gates.map((g, i) => pools.run(i % 2 ? 'cpu' : 'llm', () => g.p));
    await new Promise((r) => setImmediate(r));
    for (const g of gates) g.open();
    await Promise.all(all);
    expect(pools.peak.get('cpu')).toBe(2);
    expect(pools.peak.get('llm')).toBe(3);
  });
});
