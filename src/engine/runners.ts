/**
 * Runners: what a build does once it has decided. The real runner stores sources, runs tasks in
 * the scheduler's pools, stores their results (outputs first, the record last) and applies them
 * to the work tree; the dry-run runner (ninja's DryRunCommandRunner) writes nothing and says what
 * would happen. `Build` is the same for both.
 */
import { setMaxListeners } from 'node:events';
import { createHash } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { Pipeline } from '../pipeline/model.js';
import { CorruptEntryError, type ActionCache, type ActionRecord, type BlobStore, type OutStat, type Store } from '../store/index.js';
import type {
  FileRef, ItemView, JsonObject, MapKind, PlanContext, ReduceKind, RunContext, RunFlags, TaskResult,
} from '../task-api.js';
import type { OutputApplier } from './apply.js';
import type { Artifacts } from './artifacts.js';
import type { Listener } from './events.js';
import type { Gathering } from './gathering.js';
import { Interrupted } from './interrupted.js';
import { viewOf, type ItemDesc, type TargetRun } from './items.js';
import type { NodeKey } from './keyer.js';
import { whileWaiting, type Gate, type Pools } from './scheduler.js';
import type { Sandbox } from '../sandbox/sandbox.js';

export interface NodeRef {
  id: string;
  target: string;
  item?: string;
}

/** An input of a node and the target that made it (to forget it if its blob turns out damaged). */
export interface Producer {
  target: string;
  view: ItemView;
}

/** Everything a runner needs to know about one node that is not up to date. */
export interface NodeJob {
  t: TargetRun;
  nodeKey: string;
  ref: NodeRef;
  item?: ItemDesc;
  /** File name stem of its outputs (`fizzbuzz.O2`). */
  stem: string;
  params: JsonObject;
  identity: JsonObject;
  key: NodeKey;
  /** The outputs the last build put in the work tree for this node. */
  before?: Record<string, OutStat>;
  producers: Producer[];
  run: (ctx: RunContext) => Promise<TaskResult>;
  plan?: (ctx: PlanContext) => Promise<string[]>;
}

export interface Runner {
  /** For the summary and the display: this runner changes nothing. */
  readonly dryRun: boolean;
  /** Whether decisions should carry their reasons (a dry run always shows them). */
  readonly explains: boolean;
  /** A scanned source file the stat fast path does not vouch for: hashed, and stored unless dry. */
  sourceFile(rel: string, abs: string, st: Stats | undefined, checkSources: boolean): Promise<FileRef>;
  /** A source file the stat fast path vouches for (a dry run notes where to read it). */
  knownSource(ref: FileRef, abs: string): void;
  /** A file a scan made (a program with its local headers inlined). */
  generatedSource(text: string): Promise<FileRef>;
  /** A cache hit: restored into the work tree, or (dry) only its view taken. */
  restore(job: NodeJob, rec: ActionRecord): Promise<'cached' | 'would-restore'>;
  /** A node that must run: run, stored, applied; or (dry) its plan shown. The record when it ran. */
  execute(job: NodeJob): Promise<{ rec: ActionRecord; durationMs: number } | undefined>;
  /** A node whose input was rejected: nothing ran, its state is recorded (and old outputs removed). */
  recordPropagated(t: TargetRun, nodeKey: string, view: ItemView): Promise<void>;
  /** Every node of a map target settled: outputs of items that are gone removed. False: do not sum it up. */
  finishMap(t: TargetRun): Promise<boolean>;
  /** The build state for the next build. */
  save(): Promise<void>;
}

export interface RunnerEnv {
  pipeline: Pipeline;
  store: Store;
  blobs: BlobStore;
  actions: ActionCache;
  emit: Listener;
  flags: RunFlags;
  concurrency: { cpu: number; llm: number };
  signal?: AbortSignal;
  interrupted: () => boolean;
  /** The build's sandbox, made on first use. */
  sandbox: () => Sandbox;
}

/** Where a task's resumable state lives: per target, and per item for a map target. */
export function resumeDir(store: Store, target: string, nodeKey?: string): string {
  return path.join(store.dir, 'resume', encodeURIComponent(target), nodeKey === undefined ? '' : encodeURIComponent(nodeKey));
}

export class RealRunner implements Runner {
  readonly dryRun = false;
  /** Input blobs checked in this build, and the local file of each (for `localPath`). */
  private readonly inputPaths = new Map<string, string>();

  constructor(
    private readonly env: RunnerEnv,
    readonly explains: boolean,
    private readonly parts: {
      pools: Pools;
      /** The slots each running node holds, by node id (gather gives them back while it waits). */
      held: Map<string, Gate[]>;
      artifacts: Artifacts;
      gathering: Gathering;
      applier: OutputApplier;
      /** An input blob turned out damaged: the build must run again. */
      onDamagedInput: () => void;
      /** Before a producer's state is forgotten: keep what it materialized, to remove it later. */
      keepOuts: (target: string) => void;
    },
  ) {}

  async sourceFile(rel: string, abs: string, st: Stats | undefined, checkSources: boolean): Promise<FileRef> {
    const { store, blobs } = this.env;
    const h = await store.hasher.hash(rel, abs, st);
    const ref = { hash: h.hash, size: h.size };
    // A file the stat fast path vouches for was stored when it was last hashed; a pass that met a
    // missing blob (gc, damage) checks them all again.
    if (h.bytes) await blobs.put(h.bytes);
    else if (checkSources && !(await blobs.has(ref))) await blobs.put(await fsp.readFile(abs));
    return ref;
  }

  knownSource(): void {}

  generatedSource(text: string): Promise<FileRef> {
    return this.env.store.blobs.put(Buffer.from(text, 'utf8'));
  }

  async restore(job: NodeJob, rec: ActionRecord): Promise<'cached'> {
    await this.parts.applier.materialize(job.t, job.nodeKey, job.item, job.stem, rec, job.before);
    return 'cached';
  }

  async execute(job: NodeJob): Promise<{ rec: ActionRecord; durationMs: number }> {
    const { env } = this;
    const def = job.t.def;
    const kind = def.kind as MapKind | ReduceKind;
    let started = Date.now();
    let result: { result: TaskResult; log: string };
    try {
      result = await this.parts.pools.run(kind.pool, async () => {
        if (env.interrupted()) throw new Interrupted();
        // Tasks may read inputs as files (localPath): check them first, so a damaged entry is
        // rebuilt rather than served.
        await this.verifyInputs(job);
        started = Date.now();
        env.emit({ type: 'node-start', ...job.ref });
        return this.runTask(job);
      }, this.parts.held.get(job.ref.id));
    } catch (err) {
      if (err instanceof CorruptEntryError) await this.invalidateProducers(err, job);
      throw err;
    }
    const files: Record<string, FileRef> = {};
    for (const [name, data] of Object.entries(result.result.files ?? {})) files[name] = await env.blobs.put(data);
    let items: ActionRecord['items'];
    if (result.result.status === 'ok' && result.result.items) {
      items = [];
      for (const gi of result.result.items) {
        const gf: Record<string, FileRef> = {};
        for (const [name, data] of Object.entries(gi.files)) gf[name] = await env.blobs.put(data);
        items.push({ base: gi.base, files: gf, meta: gi.meta ?? {} });
      }
    }
    const log = result.log ? await env.blobs.put(result.log) : undefined;
    const rec: ActionRecord = {
      key: job.key.key, keyRecord: job.key.record, target: def.name, kind: kind.name, status: result.result.status,
      reason: result.result.status === 'rejected' ? result.result.reason : undefined,
      message: result.result.status === 'rejected' ? result.result.message : undefined,
      files, meta: result.result.meta ?? {}, log, items,
      createdAt: new Date().toISOString(), durationMs: Date.now() - started,
    };
    // Outputs first, the record last: a record never names a blob that is not there.
    await env.actions.put(rec);
    await this.parts.applier.materialize(job.t, job.nodeKey, job.item, job.stem, rec, job.before);
    return { rec, durationMs: Date.now() - started };
  }

  recordPropagated(t: TargetRun, nodeKey: string, view: ItemView): Promise<void> {
    return this.parts.applier.record(t, nodeKey, undefined, view, {});
  }

  async finishMap(t: TargetRun): Promise<boolean> {
    await this.parts.applier.removeGone(t);
    return true;
  }

  save(): Promise<void> {
    return this.env.store.save();
  }

  /** The task, with its RunContext; temp folders removed after, whatever happened. */
  private async runTask(job: NodeJob): Promise<{ result: TaskResult; log: string }> {
    const { env } = this;
    const def = job.t.def;
    const lines: string[] = [];
    const temps: string[] = [];
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    // One listener per node in flight (CPU and LLM pools together can exceed Node's default of 10).
    if (env.signal) setMaxListeners(0, env.signal);
    env.signal?.addEventListener('abort', onAbort);
    const id = job.ref.id;
    const ctx: RunContext = {
      projectRoot: env.pipeline.root,
      target: def.name,
      item: def.mode === 'map' ? job.nodeKey : undefined,
      params: job.params,
      identity: job.identity,
      read: (ref) => env.blobs.read(ref),
      localPath: async (ref) => this.inputPaths.get(ref.hash) ?? this.localPath(ref),
      tmpdir: async () => {
        const d = await env.store.mkTemp('task');
        temps.push(d);
        return d;
      },
      log: (line) => lines.push(line),
      signal: ac.signal,
      sandbox: env.sandbox(),
      persistentDir: async () => {
        const d = resumeDir(env.store, def.name, def.mode === 'map' ? job.nodeKey : undefined);
        await fsp.mkdir(d, { recursive: true });
        return d;
      },
      flags: env.flags,
      concurrency: env.concurrency,
      progress: (line) => env.emit({ type: 'progress', id, line }),
      // Waiting for an artifact another node is building gives this node's CPU slot back meanwhile.
      artifact: (name, keyRec, build) => this.parts.artifacts.get(name, keyRec, build, (p) =>
        whileWaiting(this.parts.held.get(id), (g) => this.parts.pools.owns(g), p)),
      facts: env.store.facts,
      gather: (group, value, flush) => this.parts.gathering.gather(def.name, this.parts.held.get(id) ?? [], group, value, flush),
    };
    try {
      const result = await job.run(ctx);
      if (ac.signal.aborted) throw new Interrupted();
      return { result, log: lines.join('\n') };
    } catch (err) {
      if (ac.signal.aborted) throw new Interrupted();
      throw err;
    } finally {
      env.signal?.removeEventListener('abort', onAbort);
      for (const d of temps) await fsp.rm(d, { recursive: true, force: true });
    }
  }

  private async localPath(ref: FileRef): Promise<string> {
    const p = await this.env.blobs.localPath(ref);
    this.inputPaths.set(ref.hash, p);
    return p;
  }

  private async verifyInputs(job: NodeJob): Promise<void> {
    for (const p of job.producers) {
      for (const ref of Object.values(p.view.files)) {
        if (!this.inputPaths.has(ref.hash)) await this.localPath(ref);
      }
    }
  }

  /**
   * An input blob turned out corrupt or missing while a task read it: forget the results that
   * named it, so that the next pass (runBuild runs one at once) rebuilds them.
   */
  private async invalidateProducers(err: CorruptEntryError, job: NodeJob): Promise<void> {
    const { store, actions } = this.env;
    for (const p of job.producers) {
      if (!Object.values(p.view.files).some((f) => f.hash === err.hash)) continue;
      const st = store.states.get(p.target)?.nodes[p.view.key];
      this.parts.keepOuts(p.target);
      if (st) await actions.remove(st.key);
      if (store.states.get(p.target)) store.states.set(p.target, p.view.key, undefined);
    }
    this.parts.onDamagedInput();
    this.env.emit({ type: 'warning', message: `${job.ref.id}: ${err.message}` });
  }
}

export class DryRunRunner implements Runner {
  readonly dryRun = true;
  readonly explains = true;
  /** Where each unstored source blob can be read from. */
  private readonly sourcePaths = new Map<string, string>();
  /** Scan-made sources, which a dry run does not store. */
  private readonly generatedSources = new Map<string, Buffer>();

  constructor(private readonly env: RunnerEnv) {}

  async sourceFile(rel: string, abs: string, st: Stats | undefined): Promise<FileRef> {
    const { store } = this.env;
    const h = await store.hasher.hash(rel, abs, st);
    const ref = { hash: h.hash, size: h.size };
    // The stat fast path's entry promises that the file's blob is stored (a later build then skips
    // storing it). A dry run stores nothing, so a file it hashed whose blob is not in the store is
    // not remembered: else the next build would find its blob "missing" and report an undamaged
    // cache as corrupt. Plans read such sources from the work tree.
    if (h.bytes && !store.blobs.hasSync(ref)) store.hasher.forget(rel);
    this.sourcePaths.set(ref.hash, abs);
    return ref;
  }

  knownSource(ref: FileRef, abs: string): void {
    this.sourcePaths.set(ref.hash, abs);
  }

  async generatedSource(text: string): Promise<FileRef> {
    const bytes = Buffer.from(text, 'utf8');
    const ref = { hash: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    this.generatedSources.set(ref.hash, bytes);
    return ref;
  }

  async restore(job: NodeJob, rec: ActionRecord): Promise<'would-restore'> {
    job.t.views.set(job.nodeKey, viewOf(job.item, job.nodeKey, rec));
    return 'would-restore';
  }

  async execute(job: NodeJob): Promise<undefined> {
    const { env } = this;
    const def = job.t.def;
    job.t.pending.add(job.nodeKey);
    if (job.plan) {
      const lines = await job.plan({
        projectRoot: env.pipeline.root, target: def.name, params: job.params, identity: job.identity,
        read: (r) => env.blobs.read(r).catch((err) => {
          const src = this.sourcePaths.get(r.hash);
          if (src) return fsp.readFile(src);
          const made = this.generatedSources.get(r.hash);
          if (made) return made;
          throw err;
        }),
        flags: env.flags, concurrency: env.concurrency,
      });
      if (lines.length) env.emit({ type: 'report', target: def.name, lines });
    }
    return undefined;
  }

  async recordPropagated(): Promise<void> {}

  async finishMap(): Promise<boolean> {
    return false;
  }

  /** Only hashes whose blobs are stored (see sourceFile). */
  async save(): Promise<void> {
    await this.env.store.hasher.save();
    await this.env.store.facts.save();
  }
}
