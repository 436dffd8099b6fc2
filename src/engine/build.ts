/**
 * One build: expands the pipeline's targets into nodes as their inputs become known (items.ts),
 * keys each node (keyer.ts), decides whether it is up to date, cached or must run (decide.ts),
 * and hands the rest to a runner (runners.ts: the real one, or the dry run's), which applies
 * results through apply.ts. Emits events; never prints.
 */
import { lstatSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { Pipeline, TargetDef } from '../pipeline/model.js';
import { directDeps } from '../pipeline/model.js';
import { CorruptEntryError, type ActionCache, type ActionRecord, type BlobStore, type NodeState, type Store } from '../store/index.js';
import type { FileRef, ItemView, Json, JsonObject, MapKind, ReduceKind, RunFlags, SourceKind } from '../task-api.js';
import { errorMessage } from '../errors.js';
import { OutputApplier } from './apply.js';
import { Artifacts } from './artifacts.js';
import { decide } from './decide.js';
import type { BuildSummary, EngineEvent, Listener, Outcome } from './events.js';
import { explainChange, type InputOrigin } from './explain.js';
import { Gathering } from './gathering.js';
import { Interrupted } from './interrupted.js';
import {
  assignItems, baseOfKey, fileStemOf, filterFiles, mapPairs, rejectedInput, viewOf, type ItemDesc, type MapPair, type TargetRun,
} from './items.js';
import { Keyer } from './keyer.js';
import { viewsDigest } from './keys.js';
import { outputsIntact } from './materialize.js';
import { DryRunRunner, RealRunner, resumeDir, type NodeJob, type NodeRef, type Producer, type Runner } from './runners.js';
import { Gate, holding, Pools, Scheduler } from './scheduler.js';
import { projectSandbox } from '../sandbox/project.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { shardOwns, type Shard } from './shard.js';

export interface BuildOptions {
  targets?: string[];
  jobs?: number;
  keepGoing?: boolean;
  /** Decide and say what would happen, with the dry-run runner: nothing is written. */
  dryRun?: boolean;
  explain?: boolean;
  force?: boolean;
  signal?: AbortSignal;
  onEvent?: Listener;
  flags?: RunFlags;
  /** Check that every source file's blob is in the store (set on a second pass after a missing blob). */
  checkSources?: boolean;
  /** Where results go (default: the local store's); helper artifacts always stay local. */
  blobs?: BlobStore;
  actions?: ActionCache;
  /** Run only this shard's per-item work (see shard.ts). */
  shard?: Shard;
  /** Where tasks run programs (`RunContext.sandbox`); default: the project's (sandbox/project.ts), made on first use and kept here. */
  sandbox?: Sandbox;
}

/** A node once its inputs are known: the runner's job before it is keyed. */
type NodeSpec = Omit<NodeJob, 'identity' | 'key' | 'before'> & {
  /** Its inputs' fingerprints (Keyer.mapInputs / reduceInput). */
  inputs: Record<string, Json>;
  origins: Record<string, InputOrigin>;
};

export class Build {
  private readonly runs = new Map<string, TargetRun>();
  private readonly scheduler: Scheduler;
  private readonly summary: BuildSummary;
  private readonly emit: Listener;
  private readonly root: string;
  private readonly started = Date.now();
  private interrupted = false;
  /** Project path of each source item's file, by `target\0item\0file` (for --explain). */
  private readonly sourceRel = new Map<string, string>();
  /** lstat results of the source scan, reused when the files are hashed. */
  private readonly lstats = new Map<string, Stats>();
  /** A pass found corrupt inputs and invalidated them: running again rebuilds them. */
  retryNeeded = false;
  private readonly admit: Gate;
  /** The slots (admission, pool) each running node holds, by node id: `gather` gives them back while it waits. */
  private readonly held = new Map<string, Gate[]>();
  private readonly gathering: Gathering;
  private readonly keyer: Keyer;
  private readonly applier: OutputApplier;
  private readonly runner: Runner;
  private readonly actions: ActionCache;
  private readonly rejectedItems = new Set<string>();

  constructor(
    private readonly pipeline: Pipeline,
    private readonly store: Store,
    private readonly opts: BuildOptions,
  ) {
    this.root = pipeline.root;
    const blobs = opts.blobs ?? store.blobs;
    this.actions = opts.actions ?? store.actions;
    this.emit = opts.onEvent ?? (() => {});
    this.scheduler = new Scheduler({ keepGoing: !!opts.keepGoing, onSettled: (id) => this.gathering.settled(id) });
    const concurrency = { cpu: opts.jobs ?? pipeline.settings.jobs, llm: pipeline.settings.llmConcurrency };
    // Nodes past their dependencies but not finished hold keys, records and closures: bound how
    // many exist at once, so a 10,000-item build does not keep 10,000 of them waiting for a CPU slot.
    this.admit = new Gate(Math.max(64, 16 * (concurrency.cpu + concurrency.llm)));
    const flags = opts.flags ?? { yes: false };
    // The build's sandbox, made on first use (a build that runs no program never loads it).
    const sandbox = () => (opts.sandbox ??= projectSandbox(this.root));
    this.keyer = new Keyer(this.root, store.facts, sandbox);
    this.gathering = new Gathering({
      running: () => this.scheduler.runningCount, interrupted: () => this.interrupted, signal: opts.signal,
      emit: this.emit, flags, resumeDir: (target) => resumeDir(store, target),
    });
    this.applier = new OutputApplier({ pipeline, store, blobs, emit: this.emit, userMessage: (t, b, m) => this.userMessage(t, b, m) });
    const env = {
      pipeline, store, blobs, actions: this.actions, emit: this.emit, flags, concurrency, signal: opts.signal,
      interrupted: () => this.interrupted, sandbox,
    };
    this.runner = opts.dryRun
      ? new DryRunRunner(env)
      : new RealRunner(env, !!opts.explain, {
        pools: new Pools(concurrency), held: this.held, artifacts: new Artifacts(store, this.emit), gathering: this.gathering,
        applier: this.applier,
        onDamagedInput: () => { this.retryNeeded = true; },
        keepOuts: (target) => { const run = this.runs.get(target); if (run) this.applier.outsOf(run); },
      });
    this.summary = {
      ok: true, dryRun: this.runner.dryRun, interrupted: false, total: 0, executed: 0, cached: 0, upToDate: 0, wouldRun: 0,
      rejected: {}, propagated: 0, failed: [], skipped: 0, hashedFiles: 0, wallMs: 0,
    };
  }

  /** Targets to build plus everything they depend on, in dependency order. */
  closure(requested: string[]): string[] {
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (n: string) => {
      if (seen.has(n)) return;
      seen.add(n);
      for (const d of directDeps(this.pipeline.targets.get(n)!)) visit(d);
      order.push(n);
    };
    for (const r of requested) visit(r);
    return order;
  }

  async run(): Promise<BuildSummary> {
    const requested = this.opts.targets?.length ? this.opts.targets : this.pipeline.defaultTargets;
    const order = this.closure(requested);
    this.emit({ type: 'build-start', targets: requested, jobs: this.opts.jobs ?? this.pipeline.settings.jobs, dryRun: this.runner.dryRun, time: Date.now() });
    for (const name of order) {
      const def = this.pipeline.targets.get(name)!;
      await this.store.states.load(name);
      this.runs.set(name, { def, views: new Map(), pending: new Set() });
    }
    const onAbort = () => {
      this.interrupted = true;
      this.scheduler.stop();
      this.gathering.drop();
    };
    this.opts.signal?.addEventListener('abort', onAbort);
    if (this.opts.signal?.aborted) onAbort();

    for (const name of order) {
      const t = this.runs.get(name)!;
      if (t.def.mode === 'source') this.addSourceNode(t);
      else if (t.def.mode === 'reduce' && !this.opts.shard) this.addReduceNode(t);
    }
    const res = await this.scheduler.run();
    this.opts.signal?.removeEventListener('abort', onAbort);

    for (const f of res.failed) {
      if (f.error instanceof Interrupted) continue;
      if (f.error instanceof CorruptEntryError && this.retryNeeded) continue;
      this.summary.failed.push({ id: f.id, message: errorMessage(f.error) });
    }
    // Only nodes counted in the total (items, aggregates), not the engine's own bookkeeping nodes.
    this.summary.skipped = res.skipped.filter((id) => this.isCountedNode(id)).length;
    this.summary.hashedFiles = this.store.hasher.hashed;
    this.summary.interrupted = this.interrupted;
    this.summary.ok = this.summary.failed.length === 0 && !this.interrupted && !this.retryNeeded;
    await this.runner.save();
    this.summary.wallMs = Date.now() - this.started;
    if (!this.retryNeeded || this.interrupted) this.emit({ type: 'build-done', summary: this.summary });
    return this.summary;
  }

  /** A node that `summary.total` counts: an item of a map target, or an aggregate. */
  private isCountedNode(id: string): boolean {
    const slash = id.indexOf('/');
    if (slash > 0) return this.runs.get(id.slice(0, slash))?.def.mode === 'map';
    return this.runs.get(id)?.def.mode === 'reduce';
  }

  // ---------------------------------------------------------------- sources

  private addSourceNode(t: TargetRun): void {
    const def = t.def;
    this.scheduler.add({
      id: def.name,
      deps: [],
      run: async () => {
        const kind = def.kind as SourceKind;
        const scan = await kind.scan({
          projectRoot: this.root,
          target: def.name,
          params: def.params,
          lstat: (rel) => {
            const st = lstatSync(path.join(this.root, rel), { throwIfNoEntry: false });
            if (st && !st.isSymbolicLink()) this.lstats.set(rel, st);
            return st;
          },
        });
        for (const w of scan.warnings) this.emit({ type: 'warning', message: `${path.basename(this.pipeline.file)}: targets.${def.name}: ${w}` });
        this.emit({ type: 'source-scanned', target: def.name, watch: scan.watch, ...(scan.watchIgnore ? { watchIgnore: scan.watchIgnore } : {}) });
        for (const it of scan.items) {
          const files: Record<string, FileRef> = {};
          try {
            for (const [name, rel] of Object.entries(it.paths)) {
              files[name] = this.knownSourceFile(rel) ?? (await this.runner.sourceFile(rel, path.join(this.root, rel), this.lstats.get(rel), !!this.opts.checkSources));
              this.sourceRel.set(`${def.name}\0${it.base}\0${name}`, rel);
            }
            for (const [name, text] of Object.entries(it.contents ?? {})) files[name] = await this.runner.generatedSource(text);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
            this.emit({ type: 'warning', message: `${def.name}: ${it.base} vanished while it was being read; skipped` });
            continue;
          }
          t.views.set(it.base, {
            key: it.base, base: it.base, vars: {}, status: it.status, reason: it.reason, message: it.message, files, meta: {}, paths: it.paths,
          });
          if (it.status === 'rejected') this.countRejected(it.reason ?? 'rejected', `${def.name}\0${it.base}`);
        }
        t.digest = viewsDigest(t.views.values());
        this.setItems(t, [...t.views.values()].map((v) => ({ key: v.key, base: v.base, vars: {} })));
      },
    });
  }

  /**
   * An unchanged source, answered synchronously (no await per file in a 10,000-file scan): the
   * stat fast path vouches for it and, outside a store check pass, it was stored when hashed.
   */
  private knownSourceFile(rel: string): FileRef | undefined {
    if (this.opts.checkSources) return undefined;
    const st = this.lstats.get(rel);
    const h = st && this.store.hasher.known(rel, st);
    if (!h) return undefined;
    const ref = { hash: h.hash, size: h.size };
    this.runner.knownSource(ref, path.join(this.root, rel));
    return ref;
  }

  // ---------------------------------------------------------------- expansion

  private setItems(t: TargetRun, items: ItemDesc[]): void {
    assignItems(t, items);
    this.expandDependents(t);
  }

  private expandDependents(t: TargetRun): void {
    // Per-item targets whose inputs are now all known can expand.
    for (const other of this.runs.values()) {
      if (other.def.mode !== 'map' || other.items) continue;
      const deps = directDeps(other.def);
      if (!deps.includes(t.def.name)) continue;
      if (deps.every((d) => this.runs.get(d)?.items)) this.expandMap(other);
    }
  }

  private nodeIdOf(target: string, item: ItemDesc): string {
    const t = this.runs.get(target)!;
    return t.def.mode === 'map' ? `${target}/${item.key}` : target;
  }

  private expandMap(t: TargetRun): void {
    const def = t.def;
    const pairs = mapPairs(def, (name) => this.runs.get(name)!);
    // Every input collection settled and the target summarised by the last build: it may be up
    // to date as a whole. Checked in a node of its own (the identity may need a prepare()).
    const digest = this.store.states.get(def.name)?.digest;
    if (digest && !this.opts.force && !this.opts.checkSources && !def.matrix && directDeps(def).every((d) => this.runs.get(d)!.digest)) {
      this.scheduler.add({
        id: `${def.name}#digest`,
        deps: [],
        run: async () => {
          // Any trouble here (a toolchain gone missing) is reported by the nodes themselves.
          const whole = await this.upToDateAsWhole(t, pairs).catch(() => false);
          if (!whole) this.addMapNodes(t, pairs);
        },
      });
      return;
    }
    this.addMapNodes(t, pairs);
  }

  private addMapNodes(t: TargetRun, pairs: MapPair[]): void {
    const def = t.def;
    assignItems(t, pairs.map((x) => x.item));
    const shard = this.opts.shard;
    const owned = shard ? pairs.filter((x) => shardOwns(shard, def, x.item.base)) : pairs;
    const ids = owned.map(({ item }) => `${def.name}/${item.key}`);
    // Known before any of them runs: `gather` waits for the open ones.
    this.gathering.open(def.name, ids);
    owned.forEach((pair, i) => {
      const deps = [this.nodeIdOf(def.from[0]!, pair.upstream)];
      for (const [name, j] of Object.entries(pair.joined)) if (j) deps.push(this.nodeIdOf(def.with[name]!, j));
      const id = ids[i]!;
      this.scheduler.add({
        id,
        deps,
        run: () => {
          const held: Gate[] = [];
          this.held.set(id, held);
          return holding(this.admit, held, () => this.runMapItem(t, pair)).finally(() => this.held.delete(id));
        },
      });
    });
    this.announceItems(def, owned.length, false);
    // The collection-complete node: removes outputs of items that no longer exist, and sums the
    // target up for the next build once its inputs are summed up too.
    this.scheduler.add({ id: def.name, deps: [...ids, ...directDeps(def)], run: () => this.finishMap(t) });
    this.expandDependents(t);
  }

  /**
   * The whole target is up to date when its digest (Keyer.targetDigest: the shared key part and
   * every input collection) is what the last build summed it up as, so every node key is
   * unchanged, and every output is still in place. Then no node is keyed or scheduled: views
   * come from the saved state.
   */
  private async upToDateAsWhole(t: TargetRun, pairs: MapPair[]): Promise<boolean> {
    const def = t.def;
    const t0 = Date.now();
    const st = this.store.states.get(def.name);
    if (!st?.digest) return false;
    if (this.targetDigest(def, await this.keyer.identityOf(def, def.params)) !== st.digest.inputs) return false;
    const views: ItemView[] = [];
    const propagated = new Set<string>();
    for (const pair of pairs) {
      const rejected = rejectedInput(def, pair, (target, item) => this.view(target, item));
      if (rejected) {
        views.push(rejected);
        propagated.add(pair.item.key);
        continue;
      }
      const prev = st.nodes[pair.item.key];
      if (!prev || prev.items || outputsIntact(this.root, prev.out)) return false;
      views.push(viewOf(pair.item, pair.item.key, prev));
    }
    assignItems(t, pairs.map((x) => x.item));
    this.announceItems(def, pairs.length, true);
    const durationMs = Date.now() - t0;
    for (const view of views) {
      t.views.set(view.key, view);
      const ref = { id: `${def.name}/${view.key}`, target: def.name, item: view.key };
      this.scheduler.addDone(ref.id);
      if (propagated.has(view.key)) {
        this.summary.propagated++;
        this.done(ref, 'propagated', 'rejected', { reason: view.reason, message: view.message });
        continue;
      }
      this.report(def, view.meta);
      this.done(ref, 'up-to-date', view.status, { reason: view.reason, message: view.message, meta: view.meta, durationMs });
    }
    t.digest = st.digest.views;
    this.scheduler.addDone(def.name);
    this.expandDependents(t);
    return true;
  }

  private targetDigest(def: TargetDef, identity: JsonObject): string | undefined {
    return this.keyer.targetDigest(def, identity, (d) => this.runs.get(d)!.digest);
  }

  private announceItems(def: TargetDef, items: number, upToDateAsWhole: boolean): void {
    this.summary.total += items;
    this.emit(upToDateAsWhole ? { type: 'target-items', target: def.name, items, upToDateAsWhole } : { type: 'target-items', target: def.name, items });
  }

  private async finishMap(t: TargetRun): Promise<void> {
    if (!(await this.runner.finishMap(t))) return;
    // Every node finished (none failed, none skipped): sum the target up for the next build.
    const def = t.def;
    const views = t.items!.map((i) => t.views.get(i.key));
    if (def.matrix || this.interrupted || views.some((v) => !v)) return;
    const st = this.store.states.get(def.name)!;
    if (t.items!.some((i) => st.nodes[i.key]?.items)) return;
    const inputs = this.targetDigest(def, await this.keyer.identityOf(def, def.params));
    if (!inputs) return;
    t.digest = viewsDigest(views as ItemView[]);
    this.store.states.setDigest(def.name, { inputs, views: t.digest });
  }

  private addReduceNode(t: TargetRun): void {
    const def = t.def;
    const inputs = [...def.from, ...Object.values(def.with)];
    this.summary.total++;
    this.emit({ type: 'target-items', target: def.name, items: 1 });
    this.scheduler.add({
      id: def.name,
      deps: inputs,
      run: () => this.runReduce(t),
    });
  }

  // ---------------------------------------------------------------- running nodes

  private view(target: string, item: ItemDesc | undefined): ItemView | undefined {
    if (!item) return undefined;
    return this.runs.get(target)!.views.get(item.key);
  }

  private isPending(target: string, item: ItemDesc | undefined): boolean {
    return !!item && this.runs.get(target)!.pending.has(item.key);
  }

  private async runMapItem(t: TargetRun, pair: MapPair): Promise<void> {
    const { item, upstream, joined } = pair;
    const def = t.def;
    const kind = def.kind as MapKind;
    const ref = { id: `${def.name}/${item.key}`, target: def.name, item: item.key };
    const inputs: Record<string, ItemView> = {};
    const fromView = this.view(def.from[0]!, upstream);
    if (fromView) inputs.from = fromView;
    for (const [name, j] of Object.entries(joined)) {
      const v = this.view(def.with[name]!, j);
      if (v) inputs[name] = v;
    }
    const pendingInput = this.isPending(def.from[0]!, upstream) || Object.entries(joined).some(([n, j]) => this.isPending(def.with[n]!, j));
    if (pendingInput) {
      t.pending.add(item.key);
      this.done(ref, 'would-run', 'ok', { why: ['an input would be rebuilt first'] });
      return;
    }
    const view = rejectedInput(def, pair, (target, it) => this.view(target, it));
    if (view) {
      t.views.set(item.key, view);
      await this.runner.recordPropagated(t, item.key, view);
      this.summary.propagated++;
      this.done(ref, 'propagated', 'rejected', { reason: view.reason, message: view.message });
      return;
    }
    const shown: Record<string, ItemView> = {};
    for (const [name, v] of Object.entries(inputs)) shown[name] = filterFiles(v, kind.reads?.[name] ?? '*');
    const origins: Record<string, InputOrigin> = { from: this.originOf(def.from[0]!, upstream.key) };
    for (const [name, j] of Object.entries(joined)) if (j) origins[name] = this.originOf(def.with[name]!, j.key);
    const producers: Producer[] = [];
    if (fromView) producers.push({ target: def.from[0]!, view: fromView });
    for (const [name, v] of Object.entries(inputs)) if (name !== 'from') producers.push({ target: def.with[name]!, view: v });
    await this.runNode({
      t, nodeKey: item.key, ref, item, stem: fileStemOf(item.base, item.vars), params: Keyer.effectiveParams(def, item.vars),
      inputs: Keyer.mapInputs(def, inputs), producers, origins,
      run: (ctx) => kind.run({ item, inputs: shown }, ctx),
      plan: kind.plan ? (ctx) => kind.plan!({ item, inputs: shown }, ctx) : undefined,
    });
  }

  private async runReduce(t: TargetRun): Promise<void> {
    const def = t.def;
    const kind = def.kind as ReduceKind;
    const ref = { id: def.name, target: def.name };
    const names: [string, string][] = [
      ...def.from.map((f, i): [string, string] => [def.from.length === 1 ? 'from' : `from${i}`, f]),
      ...Object.entries(def.with),
    ];
    const inputs: Record<string, ItemView[]> = {};
    const fingerprints: Record<string, Json> = {};
    let pending = false;
    for (const [name, target] of names) {
      const run = this.runs.get(target)!;
      if (run.pending.size) pending = true;
      const views = (run.items ?? []).map((i) => run.views.get(i.key)).filter((v): v is ItemView => !!v);
      const reads = kind.reads?.[name] ?? '*';
      inputs[name] = views.map((v) => filterFiles(v, reads));
      fingerprints[name] = Keyer.reduceInput(views, reads);
    }
    if (pending) {
      t.pending.add(def.name);
      this.done(ref, 'would-run', 'ok', { why: ['an input would be rebuilt first'] });
      return;
    }
    const producers: Producer[] = [];
    for (const [name, target] of names) for (const v of inputs[name]!) producers.push({ target, view: v });
    const origins: Record<string, InputOrigin> = {};
    for (const [name, target] of names) origins[name] = { ...this.originOf(target, undefined) };
    await this.runNode({
      t, nodeKey: def.name, ref, stem: def.name, params: def.params, inputs: fingerprints, producers, origins,
      run: (ctx) => kind.run({ inputs }, ctx),
      plan: kind.plan ? (ctx) => kind.plan!({ inputs }, ctx) : undefined,
    });
    // An aggregate that generated no collection is one item for whatever consumes it.
    if (!t.items && !t.pending.has(def.name)) this.setItems(t, [{ key: def.name, base: def.name, vars: {} }]);
  }

  /** Key, decide (up to date, cached or run), then the runner acts. */
  private async runNode(n: NodeSpec): Promise<void> {
    const { t, nodeKey, ref, item } = n;
    const def = t.def;
    const t0 = Date.now();
    // Known after a target's first node: no await per node (a 10,000-item target keys them all).
    const identity = this.keyer.identityNow(def, n.params) ?? (await this.keyer.identity(def, n.params, item?.vars));
    const key = this.keyer.nodeKey(def, n.params, identity, n.inputs);
    const prev = this.store.states.get(def.name)?.nodes[nodeKey];
    const job = { t, nodeKey, ref, item, stem: n.stem, params: n.params, identity, key, before: prev?.out, producers: n.producers, run: n.run, plan: n.plan };

    let decision = await decide({ key: key.key, prev, force: !!this.opts.force }, {
      outputsDamage: (p) => outputsIntact(this.root, p.out),
      cached: async (k) => ((this.actions.peek?.(k) ?? true) ? this.actions.get(k) : undefined),
      explain: this.runner.explains ? (p) => this.explain(p, key.record, key.key, n.origins) : undefined,
    });
    if (decision.action === 'up-to-date') {
      const st = decision.prev;
      t.views.set(nodeKey, viewOf(item, nodeKey, st));
      if (st.items) this.setGenerated(t, st.items);
      this.report(def, st.meta);
      this.done(ref, 'up-to-date', st.status, { reason: st.reason, message: st.message, meta: st.meta, durationMs: Date.now() - t0 });
      return;
    }
    if (decision.action === 'cached') {
      const rec = decision.rec;
      try {
        const outcome = await this.runner.restore(job, rec);
        if (rec.items) this.setGenerated(t, rec.items);
        this.report(def, rec.meta, outcome === 'would-restore');
        this.done(ref, outcome, rec.status, { reason: rec.reason, message: rec.message, meta: rec.meta, why: decision.why, durationMs: Date.now() - t0 });
        return;
      } catch (err) {
        if (!(err instanceof CorruptEntryError)) throw err;
        await this.actions.remove(key.key);
        this.emit({ type: 'warning', message: `${ref.id}: ${err.message}` });
        decision = { action: 'run', why: decision.why };
      }
    }
    const ran = await this.runner.execute(job);
    if (!ran) {
      this.done(ref, 'would-run', 'ok', { why: decision.why });
      return;
    }
    const { rec, durationMs } = ran;
    if (rec.items) this.setGenerated(t, rec.items);
    this.report(def, rec.meta);
    this.done(ref, 'executed', rec.status, { reason: rec.reason, message: rec.message, meta: rec.meta, why: decision.why, durationMs });
  }

  private setGenerated(t: TargetRun, items: NonNullable<ActionRecord['items']>): void {
    if (t.items) return;
    for (const gi of items) {
      t.views.set(gi.base, { key: gi.base, base: gi.base, vars: {}, status: 'ok', files: gi.files, meta: gi.meta });
    }
    this.setItems(t, items.map((gi) => ({ key: gi.base, base: gi.base, vars: {} })));
  }

  private report(def: TargetDef, meta: JsonObject, would = false): void {
    const lines = meta.summary;
    if (!Array.isArray(lines) || !lines.length) return;
    if (would) this.emit({ type: 'report', target: def.name, lines: lines.map((l) => `would restore ${String(l)}`), would: true });
    else this.emit({ type: 'report', target: def.name, lines: lines.map(String) });
  }

  private async explain(prev: NodeState | undefined, record: JsonObject, key: string, origins: Record<string, InputOrigin>): Promise<string[]> {
    if (!prev) return ['no previous build of this node'];
    if (prev.key === key) return ['outputs in the work tree are missing or modified'];
    const old = await this.actions.get(prev.key).catch(() => undefined);
    if (!old) return ['the previous key record is no longer in the cache'];
    return explainChange(old.keyRecord, record, {
      inputs: origins,
      sourcePath: (target, item, file) => this.sourceRel.get(`${target}\0${item}\0${file}`),
    });
  }

  private originOf(target: string, item: string | undefined): InputOrigin {
    return { target, item, source: this.runs.get(target)?.def.mode === 'source' };
  }

  /** The project path of a source item's file, once the build has scanned it (`asmgraph show`). */
  sourcePathOf(target: string, base: string, file: string): string | undefined {
    const t = this.rootSource(target);
    return t && this.sourceRel.get(`${t.def.name}\0${base}\0${file}`);
  }

  /** The source target a per-item target's items come from (following `from`), if any. */
  private rootSource(target: string): TargetRun | undefined {
    let t = this.runs.get(target);
    for (let hops = 0; t && t.def.mode === 'map' && hops < 100; hops++) t = this.runs.get(t.def.from[0]!);
    return t?.def.mode === 'source' ? t : undefined;
  }

  /**
   * Counted once per program (source collection and item base) and reason: a program rejected by
   * both asm and cleaned is one rejection.
   */
  private countRejected(reason: string, program: string): void {
    const k = `${reason}\0${program}`;
    if (this.rejectedItems.has(k)) return;
    this.rejectedItems.add(k);
    this.summary.rejected[reason] = (this.summary.rejected[reason] ?? 0) + 1;
  }

  /**
   * A task's message with its neutral file names (`prog.cpp`, see `messagePaths`) replaced by the
   * project path of the item's source file, found by following the target's primary input.
   */
  private userMessage(target: string, base: string, message: string): string {
    const names = this.runs.get(target)?.def.kind.messagePaths;
    if (!names) return message;
    const t = this.rootSource(target);
    if (!t) return message;
    let out = message;
    for (const [neutral, file] of Object.entries(names)) {
      const rel = this.sourceRel.get(`${t.def.name}\0${base}\0${file}`);
      if (!rel) continue;
      const re = new RegExp(`(?<![\\w./-])${neutral.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`, 'g');
      out = out.replace(re, rel);
    }
    return out;
  }

  private done(
    ref: NodeRef, outcome: Outcome, status: 'ok' | 'rejected',
    extra: { reason?: string; message?: string; meta?: JsonObject; why?: string[]; durationMs?: number },
  ): void {
    switch (outcome) {
      case 'executed': this.summary.executed++; break;
      case 'cached': case 'would-restore': this.summary.cached++; break;
      case 'up-to-date': this.summary.upToDate++; break;
      case 'would-run': this.summary.wouldRun++; break;
      default: break;
    }
    if (status === 'rejected' && outcome !== 'propagated') this.countRejected(extra.reason ?? 'rejected', ref.item === undefined ? ref.id : `${this.rootSource(ref.target)?.def.name ?? ref.target}\0${baseOfKey(ref.item)}`);
    const e: EngineEvent = { type: 'node-done', ...ref, outcome, status, durationMs: extra.durationMs ?? 0 };
    if (extra.reason) e.reason = extra.reason;
    if (extra.message) e.message = ref.item === undefined ? extra.message : this.userMessage(ref.target, baseOfKey(ref.item), extra.message);
    if (extra.why) e.why = extra.why;
    if (extra.meta && Object.keys(extra.meta).length) e.meta = displayMeta(extra.meta);
    this.emit(e);
  }
}

/** Meta small enough for an event (no summaries or long texts). */
function displayMeta(meta: JsonObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (k === 'summary') continue;
    if (typeof v === 'string' && v.length > 200) continue;
    if (v && typeof v === 'object') continue;
    out[k] = v;
  }
  return out;
}
