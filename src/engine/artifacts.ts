/**
 * Helper artifacts (`RunContext.artifact`): a precompiled header, a reference build, ... built
 * once per key record and kept in the local store, whatever store the build's results go to.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { hashJson } from '../hash.js';
import type { Store } from '../store/index.js';
import type { ArtifactOutput, FileRef, JsonObject } from '../task-api.js';
import type { Listener, Outcome } from './events.js';
import { keyOf } from './keys.js';

export type ArtifactBuilder = (dir: string) => Promise<{ files: string[]; meta?: JsonObject }>;

/**
 * How a node waits for an artifact another node is building: the runner gives the node's CPU slot
 * back meanwhile (`whileWaiting` in scheduler.ts), so the slot does work rather than idle.
 */
export type AwaitShared = <T>(p: Promise<T>) => Promise<T>;

export class Artifacts {
  private readonly built = new Map<string, Promise<ArtifactOutput>>();
  /** Keys whose promise has settled: waiting on those costs nothing, so no slot changes hands. */
  private readonly settled = new Set<string>();

  constructor(private readonly store: Store, private readonly emit: Listener) {}

  /**
   * The artifact for `keyRec`, built once per key. The first caller builds it in its own slot;
   * a caller that finds it still being built waits through `awaitShared`.
   */
  get(name: string, keyRec: JsonObject, build: ArtifactBuilder, awaitShared?: AwaitShared): Promise<ArtifactOutput> {
    const record = { artifact: name, ...keyRec };
    const key = keyOf(record);
    const p = this.built.get(key);
    if (p) return awaitShared && !this.settled.has(key) ? awaitShared(p) : p;
    const made = this.make(name, key, record, build);
    this.built.set(key, made);
    made.then(
      () => this.settled.add(key),
      () => this.built.delete(key),
    );
    return made;
  }

  private async make(name: string, key: string, record: JsonObject, build: ArtifactBuilder): Promise<ArtifactOutput> {
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
    const dir = await this.link(rec.files);
    this.emit({ type: 'node-done', id, target: name, outcome, status: 'ok', durationMs: Date.now() - t0 });
    return {
      paths: Object.fromEntries(Object.keys(rec.files).map((n) => [n, path.join(dir, n)])),
      dir,
      meta: rec.meta,
    };
  }

  /** cache/artifacts/<hash>/: the artifact's files under their names, as links into the store. */
  private async link(files: Record<string, FileRef>): Promise<string> {
    // Named by the blobs it links to, so a rebuilt artifact never reuses stale links.
    const dir = path.join(this.store.dir, 'artifacts', hashJson(files).slice(0, 32));
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
}
