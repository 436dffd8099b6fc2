/**
 * The persistence interface of the LLM steps. The engine provides one that persists each `put`
 * atomically; `MemoryJournal` and `FileJournal` are small implementations for tests and scripts.
 *
 * Key scheme (all keys are prefixed `llm/`):
 *   llm/item/<sha256(canonical {endpoint, custom_id, body})>   -> successful result of one request
 *   llm/batch-set/<sha256(canonical {endpoint, items: sorted item hashes})> -> batch plan of a request set
 *   llm/batch-group/<hash of the server>   -> batch plan of a target's batch (describe, inputs: runBatch's planKey)
 *   llm/finetune/<sha256(canonical {train, valid, model, suffix, hyperparameters, seed})>/<attempt> -> job record
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Json } from './json.js';

export interface Journal {
  get(key: string): Promise<Json | undefined>;
  put(key: string, value: Json): Promise<void>;
}

/** A journal held in memory; `entries` is exposed for inspection in tests. */
export class MemoryJournal implements Journal {
  readonly entries = new Map<string, Json>();

  async get(key: string): Promise<Json | undefined> {
    const v = this.entries.get(key);
    return v === undefined ? undefined : structuredClone(v);
  }

  async put(key: string, value: Json): Promise<void> {
    this.entries.set(key, structuredClone(value));
  }
}

/**
 * A journal kept as one JSON object in a file. Each `put` is durable when it resolves (written to a
 * temporary file, then renamed over the old one); puts issued together are coalesced into one write.
 */
export class FileJournal implements Journal {
  private data: Record<string, Json> | undefined;
  private loading: Promise<void> | undefined;
  private flushing: Promise<void> | undefined;
  private dirty = false;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(readonly path: string) {}

  private async load(): Promise<Record<string, Json>> {
    if (this.data) return this.data;
    this.loading ??= (async () => {
      try {
        const parsed = JSON.parse(await readFile(this.path, 'utf8')) as unknown;
        this.data =
          parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, Json>) : {};
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.data = {};
      }
    })();
    await this.loading;
    return this.data!;
  }

  async get(key: string): Promise<Json | undefined> {
    const data = await this.load();
    return Object.hasOwn(data, key) ? structuredClone(data[key]) : undefined;
  }

  async put(key: string, value: Json): Promise<void> {
    const data = await this.load();
    data[key] = structuredClone(value);
    this.dirty = true;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    void this.flush();
    return done;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return; // the running flush loops until nothing is dirty
    this.flushing = (async () => {
      // Let puts issued in the same tick join this write.
      await Promise.resolve();
      while (this.dirty) {
        this.dirty = false;
        const waiters = this.waiters;
        this.waiters = [];
        try {
          await mkdir(dirname(this.path), { recursive: true });
          const tmp = `${this.path}.${process.pid}.tmp`;
          await writeFile(tmp, JSON.stringify(this.data) + '\n');
          await rename(tmp, this.path);
          for (const w of waiters) w.resolve();
        } catch (err) {
          for (const w of waiters) w.reject(err);
        }
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
    if (this.dirty) await this.flush();
  }
}
