/**
 * What the last build left for each target: per node, its key, result and the stat of each
 * materialized file. It is only a fast path (ninja's build log): with it a no-op build needs
 * no action-cache reads; without it (deleted, stale after a kill -9) the action cache answers.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, type TempPlace } from '../fsutil.js';
import type { FileRef, JsonObject } from '../task-api.js';

/** Materialized file: project-relative path → [size, mtimeMs, ino]. */
export type OutStat = [size: number, mtimeMs: number, ino: number];

export interface NodeState {
  key: string;
  status: 'ok' | 'rejected';
  reason?: string;
  message?: string;
  files: Record<string, FileRef>;
  meta: JsonObject;
  out: Record<string, OutStat>;
  /** For nodes that generate a collection. */
  items?: { base: string; files: Record<string, FileRef>; meta: JsonObject }[];
}

/**
 * A map target's summary after a build in which every node finished: what its inputs were
 * (`inputs`: the shared key part plus the upstream targets' digests) and what its items are
 * (`views`). While both hold, the next build can find the whole target up to date without
 * keying each node. Any change to a node forgets it.
 */
export interface TargetDigest {
  inputs: string;
  views: string;
}

export interface TargetState {
  nodes: Record<string, NodeState>;
  digest?: TargetDigest;
}

export class TargetStateStore {
  private cache = new Map<string, TargetState>();
  private dirty = new Set<string>();

  constructor(private readonly dir: string, private readonly temp: TempPlace = {}) {}

  private fileOf(target: string): string {
    return path.join(this.dir, `${encodeURIComponent(target)}.json`);
  }

  async load(target: string): Promise<TargetState> {
    let st = this.cache.get(target);
    if (st) return st;
    try {
      st = JSON.parse(await fsp.readFile(this.fileOf(target), 'utf8')) as TargetState;
      if (!st || typeof st.nodes !== 'object') st = { nodes: {} };
    } catch {
      st = { nodes: {} };
    }
    this.cache.set(target, st);
    return st;
  }

  get(target: string): TargetState | undefined {
    return this.cache.get(target);
  }

  set(target: string, node: string, value: NodeState | undefined): void {
    const st = this.cache.get(target);
    if (!st) throw new Error(`state of ${target} not loaded`);
    if (value) st.nodes[node] = value;
    else delete st.nodes[node];
    delete st.digest;
    this.dirty.add(target);
  }

  setDigest(target: string, digest: TargetDigest): void {
    const st = this.cache.get(target);
    if (!st) throw new Error(`state of ${target} not loaded`);
    if (st.digest?.inputs === digest.inputs && st.digest.views === digest.views) return;
    st.digest = digest;
    this.dirty.add(target);
  }

  async save(): Promise<void> {
    for (const target of this.dirty) {
      const st = this.cache.get(target);
      if (st) await writeFileAtomic(this.fileOf(target), JSON.stringify(st), { tmpDir: this.temp.dir });
    }
    this.dirty.clear();
  }
}
