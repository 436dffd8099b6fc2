/**
 * Applying results to the work tree and the build state: a record's outputs materialized into
 * `build/` (temp file + rename), outputs no longer produced removed, and the node's state recorded
 * for the next build's up-to-date check. Only the real runner applies; a dry run changes nothing.
 */
import * as path from 'node:path';
import { isInside } from '../fsutil.js';
import type { Pipeline } from '../pipeline/model.js';
import type { ActionRecord, BlobStore, NodeState, OutStat, Store } from '../store/index.js';
import { InfraError, type ItemView } from '../task-api.js';
import type { Listener } from './events.js';
import { viewOf, type ItemDesc, type TargetRun } from './items.js';
import { removeStale, writeOutput } from './materialize.js';

export interface ApplierOptions {
  pipeline: Pipeline;
  store: Store;
  blobs: BlobStore;
  emit: Listener;
  /** A task's message in the user's words (its neutral file names replaced by the item's paths). */
  userMessage: (target: string, base: string, message: string) => string;
}

export class OutputApplier {
  private readonly root: string;

  constructor(private readonly o: ApplierOptions) {
    this.root = o.pipeline.root;
  }

  /** A record's outputs into the work tree, stale ones removed, the node's state recorded. */
  async materialize(t: TargetRun, nodeKey: string, item: ItemDesc | undefined, stem: string, rec: ActionRecord, before: Record<string, OutStat> | undefined): Promise<void> {
    const def = t.def;
    const out: Record<string, OutStat> = {};
    const writes: [string, Buffer | string][] = [];
    for (const spec of def.kind.outputs(def.params)) {
      const ref = rec.files[spec.name];
      if (!ref) continue;
      const rel = def.mode === 'map'
        ? path.posix.join(def.outDir, `${stem}${spec.ext ?? `.${spec.name}`}`)
        : path.posix.join(def.outDir, spec.file ?? spec.name);
      writes.push([rel, await this.o.blobs.read(ref)]);
    }
    if (rec.status === 'rejected') {
      const rel = path.posix.join(def.outDir, def.mode === 'map' ? `${stem}.rejected.txt` : `${def.name}.rejected.txt`);
      const message = item && rec.message ? this.o.userMessage(def.name, item.base, rec.message) : rec.message;
      writes.push([rel, `${rec.reason}\n${message ?? ''}\n`]);
    }
    for (const [rel, data] of writes) {
      if (!isInside(this.root, path.resolve(this.root, rel))) throw new InfraError(`refusing to write outside the project: ${rel}`);
      out[rel] = await writeOutput(this.root, rel, data, this.o.store.temp.dir);
    }
    await this.removeStale(def.name, before, out);
    const view = viewOf(item, nodeKey, rec);
    t.views.set(nodeKey, view);
    await this.record(t, nodeKey, rec.key, view, out, rec.items);
  }

  /** The node's state for the next build; no key (a rejected input): its outputs are removed. */
  async record(
    t: TargetRun, nodeKey: string, key: string | undefined, view: ItemView, out: Record<string, OutStat>,
    items?: ActionRecord['items'],
  ): Promise<void> {
    if (!key) {
      await this.removeStale(t.def.name, this.outsOf(t).get(nodeKey), out);
      this.o.store.states.set(t.def.name, nodeKey, undefined);
      this.outsOf(t).set(nodeKey, {});
      return;
    }
    const st: NodeState = {
      key, status: view.status, reason: view.reason, message: view.message, files: view.files, meta: view.meta, out,
    };
    if (items) st.items = items;
    this.o.store.states.set(t.def.name, nodeKey, st);
    this.outsOf(t).set(nodeKey, out);
  }

  /** Outputs of items that no longer exist removed, and their state forgotten. */
  async removeGone(t: TargetRun): Promise<void> {
    const keep = new Set(t.items!.map((i) => i.key));
    const removed: string[] = [];
    for (const [key, out] of this.outsOf(t)) {
      if (keep.has(key)) continue;
      removed.push(...(await removeStale(this.root, out, {}, this.o.pipeline.settings.buildDir)));
      this.o.store.states.set(t.def.name, key, undefined);
    }
    if (removed.length) this.o.emit({ type: 'removed', target: t.def.name, paths: removed });
  }

  /**
   * What each node of `t` materialized in the previous build, taken from the saved state the first
   * time it is needed (a whole-target no-op never needs it) and before this build changes it.
   */
  outsOf(t: TargetRun): Map<string, Record<string, OutStat>> {
    if (!t.outs) {
      t.outs = new Map();
      for (const [k, v] of Object.entries(this.o.store.states.get(t.def.name)?.nodes ?? {})) t.outs.set(k, v.out);
    }
    return t.outs;
  }

  private async removeStale(target: string, before: Record<string, OutStat> | undefined, now: Record<string, OutStat>): Promise<void> {
    const removed = await removeStale(this.root, before, now, this.o.pipeline.settings.buildDir);
    if (removed.length) this.o.emit({ type: 'removed', target, paths: removed });
  }
}
