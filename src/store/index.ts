/** The project's cache folder: blobs, action records, build state, temp files, lock. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TempPlace } from '../fsutil.js';
import { LocalActionCache } from './action-cache.js';
import { LocalBlobStore } from './cas.js';
import { FactCache } from './facts.js';
import { FileHasher } from './file-hasher.js';
import { TargetStateStore } from './target-state.js';

export { LocalActionCache, type ActionRecord } from './action-cache.js';
export { LocalBlobStore, CorruptEntryError } from './cas.js';
export { refsOf, type ActionCache, type BlobStore } from './interfaces.js';
export type { NodeState, OutStat } from './target-state.js';

export class Store {
  readonly blobs: LocalBlobStore;
  readonly actions: LocalActionCache;
  readonly states: TargetStateStore;
  readonly hasher: FileHasher;
  /** Slow machine facts (a compiler's --version) remembered across builds (facts.ts). */
  readonly facts: FactCache;
  readonly tmpDir: string;
  /** Where every write of this store and of the outputs it materializes is staged (set by `open`). */
  readonly temp: TempPlace = {};

  constructor(readonly dir: string) {
    this.blobs = new LocalBlobStore(path.join(dir, 'cas'), this.temp);
    this.actions = new LocalActionCache(path.join(dir, 'ac'), this.temp);
    this.states = new TargetStateStore(path.join(dir, 'state', 'targets'), this.temp);
    this.hasher = new FileHasher(path.join(dir, 'state', 'files.json'), this.temp);
    this.facts = new FactCache(path.join(dir, 'state', 'facts.json'), this.temp);
    this.tmpDir = path.join(dir, 'tmp');
  }

  /** Call while holding the project lock: clears temp files a killed run left behind. */
  async open(opts: { clearTemp: boolean } = { clearTemp: true }): Promise<void> {
    if (opts.clearTemp) await fsp.rm(this.tmpDir, { recursive: true, force: true, maxRetries: 5 });
    await fsp.mkdir(this.tmpDir, { recursive: true });
    this.temp.dir = this.tmpDir;
    await this.hasher.load();
  }

  async mkTemp(prefix = 'work'): Promise<string> {
    const dir = path.join(this.tmpDir, `${prefix}-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(dir, { recursive: true });
    return dir;
  }

  async save(): Promise<void> {
    await this.states.save();
    await this.hasher.save();
    await this.facts.save();
  }
}
