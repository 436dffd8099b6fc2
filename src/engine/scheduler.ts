/**
 * A dynamic DAG runner: nodes start as soon as all their dependencies have completed, and a
 * running node may add more nodes (a collection grows once the task that produces it has run).
 * It knows nothing of disks, processes or caches: those live in the node's `run`.
 *
 *   added ──deps done──▶ running ──ok──▶ done
 *     │                     └──throw──▶ failed ──▶ dependents skipped
 *     └──dep failed/skipped, or build stopping──▶ skipped
 */

export interface SchedNode {
  id: string;
  /** Ids of nodes this one waits for; they may be added later. */
  deps: readonly string[];
  run(): Promise<void>;
}

export interface SchedulerOptions {
  /** Go on with everything that does not depend on a failure (`-k`). */
  keepGoing: boolean;
  /** Called once per node when it is done, failed or skipped (after its dependents were released). */
  onSettled?: (id: string) => void;
}

export interface SchedulerResult {
  done: number;
  failed: { id: string; error: unknown }[];
  /** Nodes that never ran: a dependency failed, the build stopped, or a dependency never appeared. */
  skipped: string[];
}

type Status = 'waiting' | 'running' | 'done' | 'failed' | 'skipped';

export class Scheduler {
  private readonly nodes = new Map<string, SchedNode>();
  private readonly status = new Map<string, Status>();
  private readonly missing = new Map<string, number>();
  private readonly dependents = new Map<string, string[]>();
  private running = 0;
  private stopping = false;
  private started = false;
  private finish?: () => void;
  private readonly result: SchedulerResult = { done: 0, failed: [], skipped: [] };

  constructor(private readonly opts: SchedulerOptions) {}

  add(node: SchedNode): void {
    if (this.status.has(node.id)) throw new Error(`duplicate node ${node.id}`);
    this.nodes.set(node.id, node);
    this.status.set(node.id, 'waiting');
    let missing = 0;
    let blocked = false;
    for (const d of node.deps) {
      const s = this.status.get(d);
      if (s === 'done') continue;
      if (s === 'failed' || s === 'skipped') blocked = true;
      missing++;
      const list = this.dependents.get(d);
      if (list) list.push(node.id);
      else this.dependents.set(d, [node.id]);
    }
    this.missing.set(node.id, missing);
    if (blocked || this.stopping) this.skip(node.id);
    else if (missing === 0 && this.started) this.start(node.id);
  }

  /** A node that is already done (found up to date without running): its dependents may start. */
  addDone(id: string): void {
    if (this.status.has(id)) throw new Error(`duplicate node ${id}`);
    this.status.set(id, 'done');
    this.result.done++;
    this.release(id);
  }

  has(id: string): boolean {
    return this.status.has(id);
  }

  /** Nodes whose `run` has been called and has not settled yet (waiting for a slot counts). */
  get runningCount(): number {
    return this.running;
  }

  /** Stop starting new nodes (interrupt); running ones finish. */
  stop(): void {
    this.stopping = true;
  }

  run(): Promise<SchedulerResult> {
    this.started = true;
    return new Promise((resolve) => {
      this.finish = () => {
        for (const [id, s] of this.status) if (s === 'waiting') this.markSkipped(id);
        resolve(this.result);
      };
      for (const [id, s] of this.status) if (s === 'waiting' && this.missing.get(id) === 0) this.start(id);
      this.maybeFinish();
    });
  }

  private start(id: string): void {
    if (this.stopping) return this.skip(id);
    this.status.set(id, 'running');
    this.running++;
    const node = this.nodes.get(id)!;
    let p: Promise<void>;
    try {
      p = node.run();
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      () => this.complete(id),
      (err: unknown) => this.fail(id, err),
    );
  }

  private complete(id: string): void {
    this.running--;
    this.status.set(id, 'done');
    // Only the status is needed from now on: let the node and its closure go.
    this.nodes.delete(id);
    this.result.done++;
    this.release(id);
    this.opts.onSettled?.(id);
    this.maybeFinish();
  }

  /** `id` is done: start the dependents that were waiting only for it. */
  private release(id: string): void {
    const dependents = this.dependents.get(id) ?? [];
    this.dependents.delete(id);
    for (const dep of dependents) {
      if (this.status.get(dep) !== 'waiting') continue;
      const m = this.missing.get(dep)! - 1;
      this.missing.set(dep, m);
      if (m === 0) {
        this.missing.delete(dep);
        this.start(dep);
      }
    }
  }

  private fail(id: string, err: unknown): void {
    this.running--;
    this.status.set(id, 'failed');
    this.result.failed.push({ id, error: err });
    if (!this.opts.keepGoing) this.stopping = true;
    for (const dep of this.dependents.get(id) ?? []) this.skip(dep);
    this.opts.onSettled?.(id);
    this.maybeFinish();
  }

  private skip(id: string): void {
    if (this.status.get(id) !== 'waiting') return;
    this.markSkipped(id);
    for (const dep of this.dependents.get(id) ?? []) this.skip(dep);
  }

  private markSkipped(id: string): void {
    this.status.set(id, 'skipped');
    this.result.skipped.push(id);
    this.opts.onSettled?.(id);
  }

  private maybeFinish(): void {
    if (!this.started || this.running > 0 || !this.finish) return;
    // Nothing running: either everything ran, or what is left waits on nodes that never appeared.
    const f = this.finish;
    this.finish = undefined;
    queueMicrotask(() => {
      if (this.running > 0) {
        this.finish = f;
        return;
      }
      f();
    });
  }
}

/**
 * A counting semaphore. Unlike a plain limiter, a holder may give its slot back while it waits on
 * other nodes and take one again afterwards (the engine's `gather`, see build.ts), so nodes that
 * wait for a shared batch do not keep the nodes they wait for from running.
 */
export class Gate {
  private active = 0;
  /** Highest number of holders seen at once. */
  peak = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly size: number) {}

  acquire(): Promise<void> {
    if (this.active < this.size) {
      this.take();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(() => {
      this.take();
      resolve();
    }));
  }

  release(): void {
    this.active--;
    this.queue.shift()?.();
  }

  private take(): void {
    this.active++;
    if (this.active > this.peak) this.peak = this.active;
  }
}

/** Runs `fn` holding a slot of `gate`; `held` (a node's list of slots) names it meanwhile. */
export async function holding<T>(gate: Gate, held: Gate[] | undefined, fn: () => Promise<T>): Promise<T> {
  await gate.acquire();
  held?.push(gate);
  try {
    return await fn();
  } finally {
    const i = held ? held.indexOf(gate) : -1;
    if (i >= 0) held!.splice(i, 1);
    gate.release();
  }
}

/**
 * Waits for `p` (work another node is doing) without holding `held`'s slots that `give` selects:
 * they go back to their gates and are taken again, in the order they were first taken, before
 * the node goes on. Like `gather`, but for one promise.
 */
export async function whileWaiting<T>(held: Gate[] | undefined, give: (g: Gate) => boolean, p: Promise<T>): Promise<T> {
  const given = held ? held.filter(give) : [];
  if (given.length === 0) return p;
  for (const g of given) {
    held!.splice(held!.indexOf(g), 1);
    g.release();
  }
  try {
    return await p;
  } finally {
    for (const g of given) {
      await g.acquire();
      held!.push(g);
    }
  }
}

/** Separate concurrency limits for CPU-bound and network-bound work, so the two overlap. */
export class Pools {
  private readonly gates = new Map<string, Gate>();

  constructor(sizes: Record<string, number>) {
    for (const [name, n] of Object.entries(sizes)) this.gates.set(name, new Gate(Math.max(1, n)));
  }

  /** Whether `g` is one of these pools' gates (not, say, the engine's admission gate). */
  owns(g: Gate): boolean {
    return [...this.gates.values()].includes(g);
  }

  /** Highest concurrency seen per pool (tests and benchmarks read it). */
  get peak(): Map<string, number> {
    return new Map([...this.gates].map(([name, g]) => [name, g.peak]));
  }

  /** Runs `fn` in `pool`; `held` is the node's list of slots (see `holding`). */
  run<T>(pool: string, fn: () => Promise<T>, held?: Gate[]): Promise<T> {
    const gate = this.gates.get(pool);
    if (!gate) return fn();
    return holding(gate, held, fn);
  }
}
