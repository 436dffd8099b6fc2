/**
 * The two interfaces the engine stores results through, so that a store is one implementation
 * of each: the local `cache/` (cas.ts, action-cache.ts), an in-memory one (memory.ts) and the
 * local store layered over a remote HTTP cache (layered.ts, remote-http.ts).
 *
 * - `BlobStore`: content-addressed bytes. Every read is verified against the ref's hash and size;
 *   a wrong or missing blob is a `CorruptEntryError`, never served.
 * - `ActionCache`: key → the record of running a task. A record is only put after every blob it
 *   names is in the blob store.
 *
 * `peek` is an optional synchronous answer for the no-op and all-miss paths (a stat, no await);
 * a store that cannot answer without I/O (a remote one) leaves it out and the engine asks `get`.
 */
import type { FileRef } from '../task-api.js';
import type { ActionRecord } from './action-cache.js';

export interface BlobStore {
  put(data: string | Uint8Array): Promise<FileRef>;
  /** True when the blob can be read (cheap; `read` verifies the bytes). */
  has(ref: FileRef): Promise<boolean>;
  /** Synchronous `has` for stores that can answer without waiting. */
  peek?(ref: FileRef): boolean;
  /** The verified bytes; throws CorruptEntryError when missing or damaged. */
  read(ref: FileRef): Promise<Buffer>;
  /** A local, read-only file holding the blob (materialized on demand), for tasks that need a path. */
  localPath(ref: FileRef): Promise<string>;
}

export interface ActionCache {
  /** The record, or undefined when absent or damaged. */
  get(key: string): Promise<ActionRecord | undefined>;
  /** Synchronous check: false means certainly absent; true means `get` may find it. */
  peek?(key: string): boolean;
  put(rec: ActionRecord): Promise<void>;
  remove(key: string): Promise<void>;
}

/** Every blob a record names: its outputs, its log and the files of the items it generated. */
export function refsOf(rec: ActionRecord): FileRef[] {
  const seen = new Map<string, FileRef>();
  const add = (r: FileRef | undefined) => {
    if (r && !seen.has(r.hash)) seen.set(r.hash, r);
  };
  for (const r of Object.values(rec.files)) add(r);
  add(rec.log);
  for (const it of rec.items ?? []) for (const r of Object.values(it.files)) add(r);
  return [...seen.values()];
}
