/**
 * An in-memory store: both interfaces over maps, for engine tests (and proof that the engine
 * needs nothing of `cache/` beyond the interfaces). Records are kept as encoded text, so a
 * record handed out is a copy, as a disk store's would be. `localPath` writes a blob to a file
 * under `fileDir` the first time a task asks for a path.
 */
import { promises as fsp, statSync } from 'node:fs';
import * as path from 'node:path';
import { sha256 } from '../hash.js';
import { writeFileAtomic } from '../fsutil.js';
import type { FileRef } from '../task-api.js';
import { decodeRecord, encodeRecord, type ActionRecord } from './action-cache.js';
import { CorruptEntryError } from './cas.js';
import type { ActionCache, BlobStore } from './interfaces.js';

export class MemoryBlobStore implements BlobStore {
  readonly blobs = new Map<string, Buffer>();
  private readonly files = new Map<string, string>();

  constructor(private readonly fileDir: string) {}

  async put(data: string | Uint8Array): Promise<FileRef> {
    const bytes = Buffer.from(data);
    const hash = sha256(bytes);
    if (!this.blobs.has(hash)) this.blobs.set(hash, bytes);
    return { hash, size: bytes.length };
  }

  async has(ref: FileRef): Promise<boolean> {
    return this.peek(ref);
  }

  peek(ref: FileRef): boolean {
    return this.blobs.get(ref.hash)?.length === ref.size;
  }

  async read(ref: FileRef): Promise<Buffer> {
    const bytes = this.blobs.get(ref.hash);
    if (!bytes || bytes.length !== ref.size || sha256(bytes) !== ref.hash) {
      this.blobs.delete(ref.hash);
      throw new CorruptEntryError(`blob ${ref.hash.slice(0, 12)}`, ref.hash);
    }
    return bytes;
  }

  async localPath(ref: FileRef): Promise<string> {
    const known = this.files.get(ref.hash);
    if (known && statSync(known, { throwIfNoEntry: false })?.size === ref.size) return known;
    const file = path.join(this.fileDir, ref.hash);
    await writeFileAtomic(file, await this.read(ref), { mode: 0o444 });
    this.files.set(ref.hash, file);
    return file;
  }

  /** Removes the files `localPath` wrote. */
  async close(): Promise<void> {
    await fsp.rm(this.fileDir, { recursive: true, force: true });
    this.files.clear();
  }
}

export class MemoryActionCache implements ActionCache {
  readonly records = new Map<string, string>();

  async get(key: string): Promise<ActionRecord | undefined> {
    const text = this.records.get(key);
    const rec = text === undefined ? undefined : decodeRecord(text);
    if (text !== undefined && rec?.key !== key) this.records.delete(key);
    return rec?.key === key ? rec : undefined;
  }

  peek(key: string): boolean {
    return this.records.has(key);
  }

  async put(rec: ActionRecord): Promise<void> {
    this.records.set(rec.key, encodeRecord(rec));
  }

  async remove(key: string): Promise<void> {
    this.records.delete(key);
  }
}
