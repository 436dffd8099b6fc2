/**
 * One build: expands the pipeline's targets into nodes (one per item for per-item kinds),
 * computes each node's key, and for each node either finds its outputs in place, restores
 * them from the cache, or runs the task. Emits events; never prints.
 */
import { setMaxListeners } from 'node:events';
import { createHash } from 'node:crypto';
import { lstatSync, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { canonicalJson, hashJson } from '../hash.js';
import { isInside } from '../fsutil.js';
import type { Pipeline, TargetDef } from '../pipeline/model.js';
import { directDeps } from '../pipeline/model.js';
import { CorruptEntryError, type ActionCache, type ActionRecord, type BlobStore, type NodeState, type OutStat, type Store } from '../store/index.js';
import { shardOwns, type Shard } from './shard.js';
import type {
  ArtifactOutput, FileRef, GatherContext, ItemView, Json, JsonObject, MapKind, PlanContext, ReduceKind, RunContext, RunFlags, SourceKind, TaskResult,
} from '../task-api.js';
import { InfraError } from '../task-api.js';
import { projectSandbox } from '../sandbox/project.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { BuildSummary, EngineEvent, Listener, Outcome } from './events.js';
import { explainChange, type InputOrigin } from './explain.js';
import { envFingerprint, itemFingerprint, keyOf, readsFile, sharedPart, splitKey, targetInputsDigest, viewsDigest } from './keys.js';
import { outputsIntact, removeStale, writeOutput } from './materialize.js';
import { Gate, holding, Pools, Scheduler } from './scheduler.js';

export interface BuildOptions {
  targets?: string[];
  jobs?: number;
  keepGoing?: boolean;
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

interface ItemDesc {
  key: string;
  base: string;
  vars: Record<string, string>;
}

interface TargetRun {
  def: TargetDef;
  /** Item list, once known. */
  items?: ItemDesc[];
  byBase?: Map<string, ItemDesc[]>;
  views: Map<string, ItemView>;
  /** Dry run: nodes whose result is not known because they (or an input) would run. */
  pending: Set<string>;
  /** Outputs of the previous build, to remove what is no longer produced (see `outsOf`). */
  outs?: Map<string, Record<string, OutStat>>;
  /** `viewsDigest` of the whole collection, once every item of it is settled in this build. */
  digest?: string;
}

interface MapPair {
  item: ItemDesc;
  upstream: ItemDesc;
  joined: Record<string, ItemDesc | undefined>;
}

class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

export function itemKeyOf(base: string, vars: Record<string, string>): string {
  const names = Object.keys(vars).sort();
  return names.length ? `${base}[${names.map((n) => `${n}=${vars[n]}`).join(',')}]` : base;
}

export function fileStemOf(base: string, vars: Record<string, string>): string {
  const names = Object.keys(vars).sort();
  return names.length ? `${base}.${names.map((n) => vars[n]).join('.')}` : base;
}

export class Build {
  private readonly runs = new Map<string, TargetRun>();
  private readonly scheduler: Scheduler;
  private readonly pools: Pools;
  private readonly identities = new Map<string, Promise<JsonObject>>();
  private readonly artifacts = new Map<string, Promise<ArtifactOutput>>();
  private readonly summary: BuildSummary;
  private readonly emit: Listener;
  private readonly root: string;
  private readonly started = Date.now();
  private interrupted = false;
  /** Dry run: where each unstored source blob can be read from. */
  private readonly sourcePaths = new Map<string, string>();
  /** Project path of each source item's file, by `target\0item\0file` (for --explain). */
  private readonly sourceRel = new Map<string, string>();
  /** Dry run: scan-made sources, which a dry run does not store. */
  private readonly generatedSources = new Map<string, Buffer>();
  /** lstat results of the source scan, reused when the files are hashed. */
  private readonly lstats = new Map<string, Stats>();
  /** A pass found corrupt inputs and invalidated them: running again rebuilds them. */
  retryNeeded = false;
  private readonly flags: RunFlags;
  private readonly admit: Gate;
  /** The slots (admission, pool) each running node holds, by node id: `gather` gives them back while it waits. */
  private readonly held = new Map<string, Gate[]>();
  /** Per map target: its nodes that have not settled yet (done, failed or skipped), by node id. */
  private readonly openOf = new Map<string, Set<string>>();
  private readonly openByTarget = new Map<string, Set<string>>();
  /** Rounds of `gather` not flushed yet: target -> group -> waiting nodes. */
  private readonly gathers = new Map<string, Map<string, GatherRound>>();
  private waitingInGather = 0;
  private readonly concurrency: { cpu: number; llm: number };
  private readonly blobs: BlobStore;
  private readonly actions: ActionCache;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly store: Store,
    private readonly opts: BuildOptions,
  ) {
    this.root = pipeline.root;
    this.blobs = opts.blobs ?? store.blobs;
    this.actions = opts.actions ?? store.actions;
    this.emit = opts.onEvent ?? (() => {});
    this.scheduler = new Scheduler({ keepGoing: !!opts.keepGoing, onSettled: (id) => this.settled(id) });
    this.concurrency = { cpu: opts.jobs ?? pipeline.settings.jobs, llm: pipeline.settings.llmConcurrency };
    // Nodes past their dependencies but not finished hold keys, records and closures: bound how
    // many exist at once, so a 10,000-item build does not keep 10,000 of them waiting for a CPU slot.
    this.admit = new Gate(Math.max(64, 16 * (this.concurrency.cpu + this.concurrency.llm)));
    this.pools = new Pools(this.concurrency);
    this.flags = opts.flags ?? { yes: false };
    this.summary = {
      ok: true, dryRun: !!opts.dryRun, interrupted: false, total: 0, executed: 0, cached: 0, upToDate: 0, wouldRun: 0,
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
    this.emit({ type: 'build-start', targets: requested, jobs: this.opts.jobs ?? this.pipeline.settings.jobs, dryRun: !!this.opts.dryRun, time: Date.now() });
    for (const name of order) {
      const def = this.pipeline.targets.get(name)!;
      await this.store.states.load(name);
      this.runs.set(name, { def, views: new Map(), pending: new Set() });
    }
    const onAbort = () => {
      this.interrupted = true;
      this.scheduler.stop();
      this.dropGathers();
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
    if (!this.opts.dryRun) await this.store.save();
    else await this.store.hasher.save(); // a dry run keeps only hashes whose blobs are stored (storeSourceFile)
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
        for (const it of scan.items) {
          const files: Record<string, FileRef> = {};
          try {
            for (const [name, rel] of Object.entries(it.paths)) {
              files[name] = this.knownSourceFile(rel) ?? (await this.storeSourceFile(rel));
              this.sourceRel.set(`${def.name}\0${it.base}\0${name}`, rel);
            }
            for (const [name, text] of Object.entries(it.contents ?? {})) files[name] = await this.storeGenerated(text);
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
    if (this.opts.dryRun) this.sourcePaths.set(h.hash, path.join(this.root, rel));
    return { hash: h.hash, size: h.size };
  }

  /** A file a scan made (a program with its local headers inlined): stored like a source. */
  private async storeGenerated(text: string): Promise<FileRef> {
    const bytes = Buffer.from(text, 'utf8');
    if (!this.opts.dryRun) return this.store.blobs.put(bytes);
    const ref = { hash: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    this.generatedSources.set(ref.hash, bytes);
    return ref;
  }

  private async storeSourceFile(rel: string): Promise<FileRef> {
    const abs = path.join(this.root, rel);
    const h = await this.store.hasher.hash(rel, abs, this.lstats.get(rel));
    const ref = { hash: h.hash, size: h.size };
    // A dry run writes nothing, not even to the store; plans read such sources from the work tree.
    // The stat fast path's entry promises that the file's blob is stored (a later build then skips
    // storing it), so a file hashed here whose blob is not in the store is not remembered: else the
    // next build would find its blob "missing" and report an undamaged cache as corrupt.
    if (this.opts.dryRun) {
      if (h.bytes && !this.store.blobs.hasSync(ref)) this.store.hasher.forget(rel);
      this.sourcePaths.set(ref.hash, abs);
      return ref;
    }
    // A file the stat fast path vouches for was stored when it was last hashed; a pass that met a
    // missing blob (gc, damage) checks them all again.
    if (h.bytes) await this.blobs.put(h.bytes);
    else if (this.opts.checkSources && !(await this.blobs.has(ref))) await this.blobs.put(await fsp.readFile(abs));
    return ref;
  }

  // ---------------------------------------------------------------- expansion

  private setItems(t: TargetRun, items: ItemDesc[]): void {
    this.assignItems(t, items);
    this.expandDependents(t);
  }

  private assignItems(t: TargetRun, items: ItemDesc[]): void {
    items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    t.items = items;
    t.byBase = new Map();
    for (const it of items) {
      const list = t.byBase.get(it.base);
      if (list) list.push(it);
      else t.byBase.set(it.base, [it]);
    }
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

  /** The item of `target` that joins `item`: same base, and variables that agree. */
  private join(target: string, item: ItemDesc): ItemDesc | undefined {
    const t = this.runs.get(target)!;
    const candidates = t.byBase?.get(item.base) ?? [];
    return candidates.find((c) => Object.entries(c.vars).every(([k, v]) => item.vars[k] === undefined || item.vars[k] === v));
  }

  private expandMap(t: TargetRun): void {
    const def = t.def;
    const primary = this.runs.get(def.from[0])!;
    const combos = matrixCombos(def.matrix);
    const pairs: MapPair[] = [];
    for (const p of primary.items!) {
      for (const combo of combos) {
        const vars = { ...p.vars, ...combo };
        const item = { key: itemKeyOf(p.base, vars), base: p.base, vars };
        const joined: Record<string, ItemDesc | undefined> = {};
        for (const [name, w] of Object.entries(def.with)) joined[name] = this.join(w, item);
        pairs.push({ item, upstream: p, joined });
      }
    }
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
    this.assignItems(t, pairs.map((x) => x.item));
    const shard = this.opts.shard;
    const owned = shard ? pairs.filter((x) => shardOwns(shard, def, x.item.base)) : pairs;
    const ids = owned.map(({ item }) => `${def.name}/${item.key}`);
    // Known before any of them runs: `gather` waits for the open ones.
    const open = new Set(ids);
    for (const id of ids) this.openOf.set(id, open);
    this.openByTarget.set(def.name, open);
    owned.forEach(({ item, upstream, joined }, i) => {
      const deps = [this.nodeIdOf(def.from[0], upstream)];
      for (const [name, j] of Object.entries(joined)) if (j) deps.push(this.nodeIdOf(def.with[name], j));
      const id = ids[i]!;
      this.scheduler.add({
        id,
        deps,
        run: () => {
          const held: Gate[] = [];
          this.held.set(id, held);
          return holding(this.admit, held, () => this.runMapItem(t, item, upstream, joined)).finally(() => this.held.delete(id));
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
   * The whole target is up to date when the shared key part and every input collection are what
   * they were when the last build summed it up (so every node key is unchanged) and every output
   * is still in place. Then no node is keyed or scheduled: views come from the saved state.
   */
  private async upToDateAsWhole(t: TargetRun, pairs: MapPair[]): Promise<boolean> {
    const def = t.def;
    const t0 = Date.now();
    const st = this.store.states.get(def.name);
    if (!st?.digest) return false;
    const identity = this.identityNow(def, def.params) ?? (await this.identity(def, def.params, undefined));
    if (this.targetInputs(def, identity) !== st.digest.inputs) return false;
    const views: ItemView[] = [];
    const propagated = new Set<string>();
    for (const { item, upstream, joined } of pairs) {
      const rejected = this.rejectedInput(def, item, upstream, joined);
      if (rejected) {
        views.push(rejected);
        propagated.add(item.key);
        continue;
      }
      const prev = st.nodes[item.key];
      if (!prev || prev.items || outputsIntact(this.root, prev.out)) return false;
      views.push(viewOf(item, item.key, prev));
    }
    this.assignItems(t, pairs.map((x) => x.item));
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

  private announceItems(def: TargetDef, items: number, upToDateAsWhole: boolean): void {
    this.summary.total += items;
    this.emit(upToDateAsWhole ? { type: 'target-items', target: def.name, items, upToDateAsWhole } : { type: 'target-items', target: def.name, items });
  }

  /** The `targetInputsDigest` of a map target, when all its inputs are summed up in this build. */
  private targetInputs(def: TargetDef, identity: JsonObject): string | undefined {
    const upstream: Record<string, string> = {};
    for (const d of directDeps(def)) {
      const digest = this.runs.get(d)!.digest;
      if (!digest) return undefined;
      upstream[d] = digest;
    }
    const shared = this.sharedKey(def, def.params, identity).hash;
    return targetInputsDigest({ shared, from: def.from, with: def.with, reads: (def.kind as MapKind).reads as Json, upstream });
  }

  /** The view of an item whose input was rejected: rejected for the same reason, nothing run. */
  private rejectedInput(def: TargetDef, item: ItemDesc, upstream: ItemDesc, joined: Record<string, ItemDesc | undefined>): ItemView | undefined {
    const inputs: [string, ItemView | undefined][] = [['from', this.view(def.from[0], upstream)]];
    for (const [name, j] of Object.entries(joined)) inputs.push([name, this.view(def.with[name], j)]);
    const rejected = inputs.find(([, v]) => v?.status === 'rejected');
    if (!rejected) return undefined;
    const [name, v] = rejected as [string, ItemView];
    return {
      key: item.key, base: item.base, vars: item.vars, status: 'rejected', reason: v.reason,
      message: propagatedMessage(name === 'from' ? def.from[0]! : def.with[name]!, v), files: {}, meta: {},
    };
  }

  private async finishMap(t: TargetRun): Promise<void> {
    if (this.opts.dryRun) return;
    const keep = new Set(t.items!.map((i) => i.key));
    const removed: string[] = [];
    for (const [key, out] of this.outsOf(t)) {
      if (keep.has(key)) continue;
      removed.push(...(await removeStale(this.root, out, {}, this.pipeline.settings.buildDir)));
      this.store.states.set(t.def.name, key, undefined);
    }
    if (removed.length) this.emit({ type: 'removed', target: t.def.name, paths: removed });
    // Every node finished (none failed, none skipped): sum the target up for the next build.
    const def = t.def;
    const views = t.items!.map((i) => t.views.get(i.key));
    if (def.matrix || this.interrupted || views.some((v) => !v)) return;
    const st = this.store.states.get(def.name)!;
    if (t.items!.some((i) => st.nodes[i.key]?.items)) return;
    const inputs = this.targetInputs(def, this.identityNow(def, def.params) ?? (await this.identity(def, def.params, undefined)));
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

  private async runMapItem(t: TargetRun, item: ItemDesc, upstream: ItemDesc, joined: Record<string, ItemDesc | undefined>): Promise<void> {
    const def = t.def;
    const kind = def.kind as MapKind;
    const id = `${def.name}/${item.key}`;
    const ref = { id, target: def.name, item: item.key };
    const inputs: Record<string, ItemView> = {};
    const fromView = this.view(def.from[0], upstream);
    if (fromView) inputs.from = fromView;
    for (const [name, j] of Object.entries(joined)) {
      const v = this.view(def.with[name], j);
      if (v) inputs[name] = v;
    }
    const pendingInput = this.isPending(def.from[0], upstream) || Object.entries(joined).some(([n, j]) => this.isPending(def.with[n], j));
    if (pendingInput) {
      t.pending.add(item.key);
      this.done(ref, 'would-run', 'ok', { why: ['an input would be rebuilt first'] });
      return;
    }
    const view = this.rejectedInput(def, item, upstream, joined);
    if (view) {
      t.views.set(item.key, view);
      await this.record(t, item.key, undefined, view, {});
      this.summary.propagated++;
      this.done(ref, 'propagated', 'rejected', { reason: view.reason, message: view.message });
      return;
    }
    const params = this.effectiveParams(def, item.vars);
    const fingerprints: Record<string, Json> = {};
    for (const [name, v] of Object.entries(inputs)) fingerprints[name] = itemFingerprint(v, kind.reads?.[name] ?? '*', false);
    const shown: Record<string, ItemView> = {};
    for (const [name, v] of Object.entries(inputs)) shown[name] = filterFiles(v, kind.reads?.[name] ?? '*');
    const origins: Record<string, InputOrigin> = { from: this.originOf(def.from[0], upstream.key) };
    for (const [name, j] of Object.entries(joined)) if (j) origins[name] = this.originOf(def.with[name], j.key);
    const producers: Producer[] = [];
    if (fromView) producers.push({ target: def.from[0], view: fromView });
    for (const [name, v] of Object.entries(inputs)) if (name !== 'from') producers.push({ target: def.with[name], view: v });
    await this.runNode(t, item.key, ref, params, fingerprints, fileStemOf(item.base, item.vars), (ctx) => kind.run({ item, inputs: shown }, ctx), item,
      kind.plan ? (ctx) => kind.plan!({ item, inputs: shown }, ctx) : undefined, producers, origins);
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
      const fp: JsonObject = {};
      for (const v of views) fp[v.key] = itemFingerprint(v, reads, true);
      fingerprints[name] = fp;
    }
    if (pending) {
      t.pending.add(def.name);
      this.done(ref, 'would-run', 'ok', { why: ['an input would be rebuilt first'] });
      return;
    }
    const producers: Producer[] = [];
    for (const [name, target] of names) for (const v of inputs[name]) producers.push({ target, view: v });
    const origins: Record<string, InputOrigin> = {};
    for (const [name, target] of names) origins[name] = { ...this.originOf(target, undefined) };
    await this.runNode(t, def.name, ref, def.params, fingerprints, def.name, (ctx) => kind.run({ inputs }, ctx), undefined,
      kind.plan ? (ctx) => kind.plan!({ inputs }, ctx) : undefined, producers, origins);
    // An aggregate that generated no collection is one item for whatever consumes it.
    if (!t.items && !t.pending.has(def.name)) this.setItems(t, [{ key: def.name, base: def.name, vars: {} }]);
  }

  /** Key, then up-to-date check, then cache, then run. */
  private async runNode(
    t: TargetRun, nodeKey: string, ref: { id: string; target: string; item?: string },
    params: JsonObject, inputs: Record<string, Json>, stem: string,
    exec: (ctx: RunContext) => Promise<TaskResult>, item: ItemDesc | undefined,
    plan?: (ctx: PlanContext) => Promise<string[]>,
    producers: Producer[] = [],
    origins: Record<string, InputOrigin> = {},
  ): Promise<void> {
    const def = t.def;
    const kind = def.kind as MapKind | ReduceKind;
    const t0 = Date.now();
    const identity = this.identityNow(def, params) ?? (await this.identity(def, params, item?.vars));
    const shared = this.sharedKey(def, params, identity);
    const key = splitKey(shared.hash, inputs);
    const record: JsonObject = { ...shared.record, inputs };
    const prev = this.store.states.get(def.name)?.nodes[nodeKey];

    if (!this.opts.force && prev && prev.key === key) {
      const damage = outputsIntact(this.root, prev.out);
      if (!damage) {
        const view = viewOf(item, nodeKey, prev);
        t.views.set(nodeKey, view);
        if (prev.items) this.setGenerated(t, prev.items);
        this.report(def, prev.meta);
        this.done(ref, 'up-to-date', prev.status, { reason: prev.reason, message: prev.message, meta: prev.meta, durationMs: Date.now() - t0 });
        return;
      }
    }
    const why = this.opts.explain || this.opts.dryRun ? await this.explain(prev, record, key, origins) : undefined;

    if (!this.opts.force) {
      const rec = (this.actions.peek?.(key) ?? true) ? await this.actions.get(key) : undefined;
      if (rec) {
        try {
          if (!this.opts.dryRun) await this.materialize(t, nodeKey, item, stem, rec, prev?.out);
          else t.views.set(nodeKey, viewOfRecord(item, nodeKey, rec));
          if (rec.items) this.setGenerated(t, rec.items);
          this.report(def, rec.meta, !!this.opts.dryRun);
          this.done(ref, this.opts.dryRun ? 'would-restore' : 'cached', rec.status, { reason: rec.reason, message: rec.message, meta: rec.meta, why, durationMs: Date.now() - t0 });
          return;
        } catch (err) {
          if (!(err instanceof CorruptEntryError)) throw err;
          await this.actions.remove(key);
          this.emit({ type: 'warning', message: `${ref.id}: ${err.message}` });
        }
      }
    }
    if (this.opts.dryRun) {
      t.pending.add(nodeKey);
      if (plan) {
        const lines = await plan({
          projectRoot: this.root, target: def.name, params, identity,
          read: (r) => this.blobs.read(r).catch((err) => {
            const src = this.sourcePaths.get(r.hash);
            if (src) return fsp.readFile(src);
            const made = this.generatedSources.get(r.hash);
            if (made) return made;
            throw err;
          }),
          flags: this.flags, concurrency: this.concurrency,
        });
        if (lines.length) this.emit({ type: 'report', target: def.name, lines });
      }
      this.done(ref, 'would-run', 'ok', { why: this.opts.force ? ['--force'] : why });
      return;
    }

    let started = Date.now();
    let result: { result: TaskResult; log: string };
    try {
      result = await this.pools.run(kind.pool, async () => {
        if (this.interrupted) throw new Interrupted();
        // Tasks may read inputs straight from the store (blobPath): check them first, so a
        // damaged entry is rebuilt rather than served.
        await this.verifyInputs(producers);
        started = Date.now();
        this.emit({ type: 'node-start', ...ref });
        return this.execute(def, nodeKey, params, identity, exec);
      }, this.held.get(ref.id));
    } catch (err) {
      if (err instanceof CorruptEntryError) await this.invalidateProducers(err, producers, ref.id);
      throw err;
    }
    const files: Record<string, FileRef> = {};
    for (const [name, data] of Object.entries(result.result.files ?? {})) files[name] = await this.blobs.put(data);
    let items: ActionRecord['items'];
    if (result.result.status === 'ok' && result.result.items) {
      items = [];
      for (const gi of result.result.items) {
        const gf: Record<string, FileRef> = {};
        for (const [name, data] of Object.entries(gi.files)) gf[name] = await this.blobs.put(data);
        items.push({ base: gi.base, files: gf, meta: gi.meta ?? {} });
      }
    }
    const log = result.log ? await this.blobs.put(result.log) : undefined;
    const rec: ActionRecord = {
      key, keyRecord: record, target: def.name, kind: kind.name, status: result.result.status,
      reason: result.result.status === 'rejected' ? result.result.reason : undefined,
      message: result.result.status === 'rejected' ? result.result.message : undefined,
      files, meta: result.result.meta ?? {}, log, items,
      createdAt: new Date().toISOString(), durationMs: Date.now() - started,
    };
    // Outputs first, the record last: a record never names a blob that is not there.
    await this.actions.put(rec);
    await this.materialize(t, nodeKey, item, stem, rec, prev?.out);
    if (items) this.setGenerated(t, items);
    this.report(def, rec.meta);
    this.done(ref, 'executed', rec.status, {
      reason: rec.reason, message: rec.message, meta: rec.meta, why, durationMs: Date.now() - started,
    });
  }

  private async execute(
    def: TargetDef, nodeKey: string, params: JsonObject, identity: JsonObject,
    exec: (ctx: RunContext) => Promise<TaskResult>,
  ): Promise<{ result: TaskResult; log: string }> {
    const lines: string[] = [];
    const temps: string[] = [];
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    // One listener per node in flight (CPU and LLM pools together can exceed Node's default of 10).
    if (this.opts.signal) setMaxListeners(0, this.opts.signal);
    this.opts.signal?.addEventListener('abort', onAbort);
    const ctx: RunContext = {
      projectRoot: this.root,
      target: def.name,
      item: def.mode === 'map' ? nodeKey : undefined,
      params,
      identity,
      read: (ref) => this.blobs.read(ref),
      blobPath: (ref) => this.inputPaths.get(ref.hash) ?? this.store.blobs.pathOf(ref.hash),
      tmpdir: async () => {
        const d = await this.store.mkTemp('task');
        temps.push(d);
        return d;
      },
      log: (line) => lines.push(line),
      signal: ac.signal,
      sandbox: (this.opts.sandbox ??= projectSandbox(this.root)),
      persistentDir: async () => {
        const d = path.join(this.store.dir, 'resume', encodeURIComponent(def.name), def.mode === 'map' ? encodeURIComponent(nodeKey) : '');
        await fsp.mkdir(d, { recursive: true });
        return d;
      },
      flags: this.flags,
      concurrency: this.concurrency,
      progress: (line) => this.emit({ type: 'progress', id: def.mode === 'map' ? `${def.name}/${nodeKey}` : def.name, line }),
      artifact: (name, keyRec, build) => this.artifact(name, keyRec, build),
      gather: (group, value, flush) => this.gather(def.name, def.mode === 'map' ? `${def.name}/${nodeKey}` : def.name, group, value, flush),
    };
    try {
      const result = await exec(ctx);
      if (ac.signal.aborted) throw new Interrupted();
      return { result, log: lines.join('\n') };
    } catch (err) {
      if (ac.signal.aborted) throw new Interrupted();
      throw err;
    } finally {
      this.opts.signal?.removeEventListener('abort', onAbort);
      for (const d of temps) await fsp.rm(d, { recursive: true, force: true });
    }
  }

  /** Input blobs checked in this build, and the local file of each (for `blobPath`). */
  private readonly inputPaths = new Map<string, string>();

  private async verifyInputs(producers: Producer[]): Promise<void> {
    for (const p of producers) {
      for (const ref of Object.values(p.view.files)) {
        if (this.inputPaths.has(ref.hash)) continue;
        this.inputPaths.set(ref.hash, await this.blobs.localPath(ref));
      }
    }
  }

  /**
   * An input blob turned out corrupt or missing while a task read it: forget the results that
   * named it, so that the next pass (runBuild runs one at once) rebuilds them.
   */
  private async invalidateProducers(err: CorruptEntryError, producers: Producer[], id: string): Promise<void> {
    for (const p of producers) {
      if (!Object.values(p.view.files).some((f) => f.hash === err.hash)) continue;
      const st = this.store.states.get(p.target)?.nodes[p.view.key];
      const run = this.runs.get(p.target);
      if (run) this.outsOf(run);
      if (st) await this.actions.remove(st.key);
      if (this.store.states.get(p.target)) this.store.states.set(p.target, p.view.key, undefined);
    }
    this.retryNeeded = true;
    this.emit({ type: 'warning', message: `${id}: ${err.message}` });
  }

  // ---------------------------------------------------------------- gather (RunContext.gather)

  /**
   * One node's part of a gathering: it gives its slots back, waits until its round is flushed (see
   * `checkGathers`), and takes its slots again before it goes on with its result.
   */
  private async gather<T, R>(
    target: string, id: string, group: string, value: T,
    flush: (values: T[], ctx: GatherContext) => Promise<R[]>,
  ): Promise<R> {
    if (this.interrupted) throw new Interrupted();
    const held = this.held.get(id) ?? [];
    const given = held.splice(0);
    for (const g of given) g.release();
    try {
      return await new Promise<R>((resolve, reject) => {
        let groups = this.gathers.get(target);
        if (!groups) this.gathers.set(target, (groups = new Map()));
        let round = groups.get(group);
        if (!round) groups.set(group, (round = { flush: flush as GatherRound['flush'], entries: [] }));
        round.entries.push({ value, resolve: resolve as (v: unknown) => void, reject });
        this.waitingInGather++;
        this.checkGathers();
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
  private settled(id: string): void {
    const open = this.openOf.get(id);
    if (!open) return;
    open.delete(id);
    this.openOf.delete(id);
    this.checkGathers();
  }

  /**
   * Flushes a target's rounds once every open node of the target waits in them, or every node of
   * the whole build that is running waits in a gather (nothing else could make progress: e.g. a
   * dependency that never appears). Decided from counts only, so the same build gathers the same way.
   */
  private checkGathers(): void {
    if (!this.gathers.size) return;
    const stalled = this.waitingInGather >= this.scheduler.runningCount;
    for (const [target, groups] of [...this.gathers]) {
      let waiting = 0;
      for (const r of groups.values()) waiting += r.entries.length;
      const open = this.openByTarget.get(target)?.size ?? 0;
      if (stalled || waiting >= open) this.flushTarget(target, groups);
    }
  }

  private flushTarget(target: string, groups: Map<string, GatherRound>): void {
    this.gathers.delete(target);
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    const onAbort = () => ac.abort();
    if (this.opts.signal?.aborted) ac.abort();
    else this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    const ctx: GatherContext = {
      target,
      persistentDir: async () => {
        // '@' is escaped in item folders (encodeURIComponent), so this never is one.
        const d = path.join(this.store.dir, 'resume', encodeURIComponent(target), '@gather');
        await fsp.mkdir(d, { recursive: true });
        return d;
      },
      progress: (line) => this.emit({ type: 'progress', id: target, line }),
      signal: ac.signal,
      flags: this.flags,
    };
    const flushes = [...groups.values()].map((round) => {
      this.waitingInGather -= round.entries.length;
      return (async () => {
        try {
          if (this.interrupted) throw new Interrupted();
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
    void Promise.all(flushes).then(() => this.opts.signal?.removeEventListener('abort', onAbort));
  }

  /** Interrupted: rounds not flushed yet are dropped (nothing of them is sent). */
  private dropGathers(): void {
    for (const groups of this.gathers.values()) {
      for (const r of groups.values()) {
        this.waitingInGather -= r.entries.length;
        for (const e of r.entries) e.reject(new Interrupted());
      }
    }
    this.gathers.clear();
  }

  /** A cached helper artifact (a precompiled header, ...): built once per key record. */
  private artifact(
    name: string, keyRec: JsonObject,
    build: (dir: string) => Promise<{ files: string[]; meta?: JsonObject }>,
  ): Promise<ArtifactOutput> {
    const record = { artifact: name, ...keyRec };
    const key = keyOf(record);
    let p = this.artifacts.get(key);
    if (!p) {
      p = (async () => {
        const id = `${name}@${key.slice(0, 8)}`;
        const t0 = Date.now();
        let rec = await this.store.actions.get(key);
        let outcome: Outcome = 'cached';
        if (!rec || !(await Promise.all(Object.values(rec.files).map((f) => this.store.blobs.has(f)))).every(Boolean)) {
          outcome = 'executed';
          const dir = await this.store.mkTemp('artifact');
          try {
            const out = await build(dir);
            const files: Record<string, FileRef> = {};
            for (const f of out.files) files[f] = await this.store.blobs.putFile(path.join(dir, f));
            rec = {
              key, keyRecord: record, target: name, kind: 'artifact', status: 'ok', files, meta: out.meta ?? {},
              createdAt: new Date().toISOString(), durationMs: Date.now() - t0,
            };
            await this.store.actions.put(rec);
          } finally {
            await fsp.rm(dir, { recursive: true, force: true });
          }
        }
        const dir = await this.linkArtifact(key, rec.files);
        this.emit({ type: 'node-done', id, target: name, outcome, status: 'ok', durationMs: Date.now() - t0 });
        return {
          paths: Object.fromEntries(Object.keys(rec.files).map((n) => [n, path.join(dir, n)])),
          dir,
          meta: rec.meta,
        };
      })();
      this.artifacts.set(key, p);
      p.catch(() => this.artifacts.delete(key));
    }
    return p;
  }

  /** cache/artifacts/<key>/: the artifact's files under their names, as links into the store. */
  private async linkArtifact(key: string, files: Record<string, FileRef>): Promise<string> {
    // Named by the blobs it links to, so a rebuilt artifact never reuses stale links.
    const dir = path.join(this.store.dir, 'artifacts', hashJson(files as unknown as JsonObject).slice(0, 32));
    const complete = path.join(dir, '.complete');
    try {
      await fsp.access(complete);
      return dir;
    } catch {
      /* build the folder */
    }
    const tmp = await this.store.mkTemp('artifact-links');
    for (const [rel, ref] of Object.entries(files)) {
      await fsp.mkdir(path.dirname(path.join(tmp, rel)), { recursive: true });
      await fsp.symlink(this.store.blobs.pathOf(ref.hash), path.join(tmp, rel));
    }
    await fsp.writeFile(path.join(tmp, '.complete'), '');
    await fsp.mkdir(path.dirname(dir), { recursive: true });
    await fsp.rm(dir, { recursive: true, force: true });
    try {
      await fsp.rename(tmp, dir);
    } catch {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
    return dir;
  }

  private async materialize(t: TargetRun, nodeKey: string, item: ItemDesc | undefined, stem: string, rec: ActionRecord, before: Record<string, OutStat> | undefined): Promise<void> {
    const def = t.def;
    const out: Record<string, OutStat> = {};
    const specs = def.kind.outputs(def.params);
    const writes: [string, Buffer | string][] = [];
    for (const spec of specs) {
      const ref = rec.files[spec.name];
      if (!ref) continue;
      const rel = def.mode === 'map'
        ? path.posix.join(def.outDir, `${stem}${spec.ext ?? `.${spec.name}`}`)
        : path.posix.join(def.outDir, spec.file ?? spec.name);
      writes.push([rel, await this.blobs.read(ref)]);
    }
    if (rec.status === 'rejected') {
      const rel = path.posix.join(def.outDir, def.mode === 'map' ? `${stem}.rejected.txt` : `${def.name}.rejected.txt`);
      const message = item && rec.message ? this.userMessage(def.name, item.base, rec.message) : rec.message;
      writes.push([rel, `${rec.reason}\n${message ?? ''}\n`]);
    }
    for (const [rel, data] of writes) {
      if (!isInside(this.root, path.resolve(this.root, rel))) throw new InfraError(`refusing to write outside the project: ${rel}`);
      out[rel] = await writeOutput(this.root, rel, data);
    }
    const removed = await removeStale(this.root, before, out, this.pipeline.settings.buildDir);
    if (removed.length) this.emit({ type: 'removed', target: def.name, paths: removed });
    const view = viewOfRecord(item, nodeKey, rec);
    t.views.set(nodeKey, view);
    await this.record(t, nodeKey, rec.key, view, out, rec.items);
  }

  private async record(
    t: TargetRun, nodeKey: string, key: string | undefined, view: ItemView, out: Record<string, OutStat>,
    items?: ActionRecord['items'],
  ): Promise<void> {
    if (this.opts.dryRun) return;
    const before = this.outsOf(t).get(nodeKey);
    if (!key) {
      const removed = await removeStale(this.root, before, out, this.pipeline.settings.buildDir);
      if (removed.length) this.emit({ type: 'removed', target: t.def.name, paths: removed });
      this.store.states.set(t.def.name, nodeKey, undefined);
      this.outsOf(t).set(nodeKey, {});
      return;
    }
    const st: NodeState = {
      key, status: view.status, reason: view.reason, message: view.message, files: view.files, meta: view.meta, out,
    };
    if (items) st.items = items;
    this.store.states.set(t.def.name, nodeKey, st);
    this.outsOf(t).set(nodeKey, out);
  }

  /**
   * What each node of `t` materialized in the previous build, taken from the saved state the first
   * time it is needed (a whole-target no-op never needs it) and before this build changes it.
   */
  private outsOf(t: TargetRun): Map<string, Record<string, OutStat>> {
    if (!t.outs) {
      t.outs = new Map();
      for (const [k, v] of Object.entries(this.store.states.get(t.def.name)?.nodes ?? {})) t.outs.set(k, v.out);
    }
    return t.outs;
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

  private effectiveParams(def: TargetDef, vars: Record<string, string>): JsonObject {
    const props = (def.kind.paramsSchema.properties ?? {}) as JsonObject;
    const applied = Object.entries(vars).filter(([k]) => k in props);
    if (!applied.length) return def.params;
    const out: JsonObject = { ...def.params };
    for (const [k, v] of applied) out[k] = v;
    return out;
  }

  private readonly shared = new Map<string, { record: JsonObject; hash: string }>();

  /** The key part shared by a target's nodes with the same parameters, computed once. */
  private sharedKey(def: TargetDef, params: JsonObject, identity: JsonObject): { record: JsonObject; hash: string } {
    const memo = params === def.params ? def.name : `${def.name}|${canonicalJson(params)}`;
    let s = this.shared.get(memo);
    if (!s) {
      const kind = def.kind;
      s = sharedPart({ kind: kind.name, kindVersion: kind.version, params, identity, env: envFingerprint(kind.env?.(params) ?? []) });
      this.shared.set(memo, s);
    }
    return s;
  }

  private identity(def: TargetDef, params: JsonObject, vars: Record<string, string> | undefined): Promise<JsonObject> {
    const kind = def.kind;
    if (!kind.prepare) return Promise.resolve({});
    const k = this.identityKey(def, params);
    let p = this.identities.get(k);
    if (!p) {
      p = kind.prepare({ projectRoot: this.root, target: def.name, params, vars });
      this.identities.set(k, p);
      p.then((v) => this.resolvedIdentities.set(k, v), () => {});
    }
    return p;
  }

  /** The identity without waiting, once it is known (most nodes of a target). */
  private identityNow(def: TargetDef, params: JsonObject): JsonObject | undefined {
    if (!def.kind.prepare) return EMPTY;
    return this.resolvedIdentities.get(this.identityKey(def, params));
  }

  private identityKey(def: TargetDef, params: JsonObject): string {
    return params === def.params ? `${def.kind.name}|${def.name}` : `${def.kind.name}|${canonicalJson(params)}`;
  }

  private readonly resolvedIdentities = new Map<string, JsonObject>();

  private readonly rejectedItems = new Set<string>();

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
    ref: { id: string; target: string; item?: string }, outcome: Outcome, status: 'ok' | 'rejected',
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

const EMPTY: JsonObject = {};

interface GatherRound {
  flush: (values: unknown[], ctx: GatherContext) => Promise<unknown[]>;
  entries: { value: unknown; resolve: (v: unknown) => void; reject: (err: unknown) => void }[];
}

/**
 * `input asm was rejected: compile-error`, then the first rejection's own message (the compiler's
 * text), so a report further down can show it; an input that was itself propagated passes on its
 * original message, not its own first line.
 */
function propagatedMessage(input: string, v: ItemView): string {
  const head = `input ${input} was rejected: ${v.reason}`;
  if (!v.message) return head;
  const original = v.message.startsWith('input ') ? v.message.split('\n').slice(1).join('\n') : v.message;
  return original ? `${head}\n${original}` : head;
}

/** `fizzbuzz[opt=O2]` → `fizzbuzz` (see itemKeyOf). */
function baseOfKey(key: string): string {
  const i = key.indexOf('[');
  return i < 0 ? key : key.slice(0, i);
}

interface Producer {
  target: string;
  view: ItemView;
}

function matrixCombos(matrix: Record<string, string[]> | undefined): Record<string, string>[] {
  if (!matrix) return [{}];
  let combos: Record<string, string>[] = [{}];
  for (const [k, values] of Object.entries(matrix)) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
  }
  return combos;
}

function filterFiles(v: ItemView, reads: string[] | '*'): ItemView {
  if (reads === '*') return v;
  const files: Record<string, FileRef> = {};
  for (const [n, ref] of Object.entries(v.files)) if (readsFile(reads, n)) files[n] = ref;
  return { ...v, files };
}

function viewOf(item: ItemDesc | undefined, nodeKey: string, st: NodeState): ItemView {
  return {
    key: nodeKey, base: item?.base ?? nodeKey, vars: item?.vars ?? {}, status: st.status, reason: st.reason,
    message: st.message, files: st.files, meta: st.meta,
  };
}

function viewOfRecord(item: ItemDesc | undefined, nodeKey: string, rec: ActionRecord): ItemView {
  return {
    key: nodeKey, base: item?.base ?? nodeKey, vars: item?.vars ?? {}, status: rec.status, reason: rec.reason,
    message: rec.message, files: rec.files, meta: rec.meta,
  };
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

export function errorMessage(err: unknown): string {
  if (err instanceof InfraError) return err.hint && !err.message.includes(err.hint) ? `${err.message}\n  ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

