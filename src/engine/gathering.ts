/**
 * `RunContext.gather`: nodes of one target hand in a value and wait; once every open node of the
 * target waits (or nothing else in the build can run), each group's round is flushed in one call
 * (one Batch API batch) and every node gets its own result back. Decided from counts only, never a
 * timer, so the same build always gathers the same way.
 */
import { setMaxListeners } from 'node:events';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { GatherContext, RunFlags } from '../task-api.js';
import type { Listener } from './events.js';
import { Interrupted } from './interrupted.js';
import type { Gate } from './scheduler.js';

interface GatherRound {
  flush: (values: unknown[], ctx: GatherContext) => Promise<unknown[]>;
  entries: { value: unknown; resolve: (v: unknown) => void; reject: (err: unknown) => void }[];
}

export interface GatheringOptions {
  /** Nodes running in the whole build now (the scheduler's count). */
  running: () => number;
  interrupted: () => boolean;
  signal?: AbortSignal;
  emit: Listener;
  flags: RunFlags;
  /** The target's folder for resumable state (`cache/resume/<target>`). */
  resumeDir: (target: string) => string;
}

export class Gathering {
  /** Per map target: its nodes that have not settled yet (done, failed or skipped), by node id. */
  private readonly openOf = new Map<string, Set<string>>();
  private readonly openByTarget = new Map<string, Set<string>>();
  /** Rounds not flushed yet: target -> group -> waiting nodes. */
  private readonly rounds = new Map<string, Map<string, GatherRound>>();
  private waiting = 0;

  constructor(private readonly o: GatheringOptions) {}

  /** The nodes of a map target, known before any of them runs: a gathering waits for the open ones. */
  open(target: string, ids: string[]): void {
    const open = new Set(ids);
    for (const id of ids) this.openOf.set(id, open);
    this.openByTarget.set(target, open);
  }

  /**
   * One node's part of a gathering: it gives its slots (`held`) back, waits until its round is
   * flushed, and takes its slots again before it goes on with its result.
   */
  async gather<T, R>(
    target: string, held: Gate[], group: string, value: T,
    flush: (values: T[], ctx: GatherContext) => Promise<R[]>,
  ): Promise<R> {
    if (this.o.interrupted()) throw new Interrupted();
    const given = held.splice(0);
    for (const g of given) g.release();
    try {
      return await new Promise<R>((resolve, reject) => {
        let groups = this.rounds.get(target);
        if (!groups) this.rounds.set(target, (groups = new Map()));
        let round = groups.get(group);
        if (!round) groups.set(group, (round = { flush: flush as GatherRound['flush'], entries: [] }));
        round.entries.push({ value, resolve: resolve as (v: unknown) => void, reject });
        this.waiting++;
        this.check();
      });
    } finally {
      // In the order they were first taken (admission, then pool), like every other node.
      for (const g of given) {
        await g.acquire();
        held.push(g);
      }
    }
  }

  /** A node settled: it no longer holds up its target's gathering. */
  settled(id: string): void {
    const open = this.openOf.get(id);
    if (!open) return;
    open.delete(id);
    this.openOf.delete(id);
    this.check();
  }

  /** Interrupted: rounds not flushed yet are dropped (nothing of them is sent). */
  drop(): void {
    for (const groups of this.rounds.values()) {
      for (const r of groups.values()) {
        this.waiting -= r.entries.length;
        for (const e of r.entries) e.reject(new Interrupted());
      }
    }
    this.rounds.clear();
  }

  /**
   * Flushes a target's rounds once every open node of the target waits in them, or every node of
   * the whole build that is running waits in a gather (nothing else could make progress: e.g. a
   * dependency that never appears).
   */
  private check(): void {
    if (!this.rounds.size) return;
    const stalled = this.waiting >= this.o.running();
    for (const [target, groups] of [...this.rounds]) {
      let waiting = 0;
      for (const r of groups.values()) waiting += r.entries.length;
      const open = this.openByTarget.get(target)?.size ?? 0;
      if (stalled || waiting >= open) this.flushTarget(target, groups);
    }
  }

  private flushTarget(target: string, groups: Map<string, GatherRound>): void {
    this.rounds.delete(target);
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    const onAbort = () => ac.abort();
    const signal = this.o.signal;
    if (signal?.aborted) ac.abort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const ctx: GatherContext = {
      target,
      persistentDir: async () => {
        // '@' is escaped in item folders (encodeURIComponent), so this never is one.
        const d = path.join(this.o.resumeDir(target), '@gather');
        await fsp.mkdir(d, { recursive: true });
        return d;
      },
      progress: (line) => this.o.emit({ type: 'progress', id: target, line }),
      signal: ac.signal,
      flags: this.o.flags,
    };
    const flushes = [...groups.values()].map((round) => {
      this.waiting -= round.entries.length;
      return (async () => {
        try {
          if (this.o.interrupted()) throw new Interrupted();
          const out = await round.flush(round.entries.map((e) => e.value), ctx);
          if (!Array.isArray(out) || out.length !== round.entries.length) {
            throw new Error(`${target}: a gather flush returned ${Array.isArray(out) ? out.length : 'no'} results for ${round.entries.length} values`);
          }
          round.entries.forEach((e, i) => e.resolve(out[i]));
        } catch (err) {
          for (const e of round.entries) e.reject(err);
        }
      })();
    });
    void Promise.all(flushes).then(() => signal?.removeEventListener('abort', onAbort));
  }
}
