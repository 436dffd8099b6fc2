/**
 * The content-addressed store: blobs named by the sha256 of their bytes, under
 * `cache/cas/<first two hex>/<hash>`. Blobs are verified on every read, so a corrupt
 * entry is detected on use, removed and never served.
 */
import { promises as fsp, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { sha256 } from '../hash.js';
import { writeFileAtomic, type TempPlace } from '../fsutil.js';
import type { FileRef } from '../task-api.js';
import type { BlobStore } from './interfaces.js';

export class CorruptEntryError extends Error {
  constructor(readonly what: string, readonly hash?: string) {
    super(`corrupt or missing cache entry ${what}: removed; it will be rebuilt`);
    this.name = 'CorruptEntryError';
  }
}

const SYNC_READ_MAX = 1 << 20;

export class LocalBlobStore implements BlobStore {
  constructor(readonly dir: string, private readonly temp: TempPlace = {}) {}

  pathOf(hash: string): string {
    return path.join(this.dir, hash.slice(0, 2), hash);
  }

  async put(data: string | Uint8Array): Promise<FileRef> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const hash = sha256(bytes);
    const file = this.pathOf(hash);
    // A blob already there is kept only if its bytes are these: a damaged copy of the same size
    // (a flipped byte) would otherwise be "confirmed" by every later put and served as the output.
    if (statSync(file, { throwIfNoEntry: false })?.size === bytes.length) {
      const have = bytes.length <= SYNC_READ_MAX ? readFileSync(file) : await fsp.readFile(file);
      if (Buffer.compare(have, bytes) === 0) return { hash, size: bytes.length };
    }
    await writeFileAtomic(file, bytes, { mode: 0o444, tmpDir: this.temp.dir });
    return { hash, size: bytes.length };
  }

  /** Stores a file already on disk (e.g. a 20 MB precompiled header) without keeping it in memory twice. */
  async putFile(src: string): Promise<FileRef> {
    return this.put(await fsp.readFile(src));
  }

  /** True when the blob exists with the right size (cheap; `read` verifies the bytes). */
  async has(ref: FileRef): Promise<boolean> {
    return this.hasSync(ref);
  }

  hasSync(ref: FileRef): boolean {
    return statSync(this.pathOf(ref.hash), { throwIfNoEntry: false })?.size === ref.size;
  }

  peek(ref: FileRef): boolean {
    return this.hasSync(ref);
  }

  /** The blob's file in the store, after verifying its bytes. */
  async localPath(ref: FileRef): Promise<string> {
    await this.read(ref);
    return this.pathOf(ref.hash);
  }

  /** Reads and verifies a blob. Throws CorruptEntryError (after removing it) if the bytes are wrong. */
  async read(ref: FileRef): Promise<Buffer> {
    const file = this.pathOf(ref.hash);
    let bytes: Buffer;
    try {
      // Small blobs (nearly all) are read synchronously: cheaper than a thread-pool round trip.
      bytes = ref.size <= SYNC_READ_MAX ? readFileSync(file) : await fsp.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CorruptEntryError(`blob ${ref.hash.slice(0, 12)}`, ref.hash);
      throw err;
    }
    if (bytes.length !== ref.size || sha256(bytes) !== ref.hash) {
      await fsp.rm(file, { force: true });
      throw new CorruptEntryError(`blob ${ref.hash.slice(0, 12)}`, ref.hash);
    }
    return bytes;
  }

  /** Re-hashes every blob; removes and returns the corrupt ones. */
  async verifyAll(): Promise<{ checked: number; corrupt: string[]; bytes: number }> {
    let checked = 0;
    let bytes = 0;
    const corrupt: string[] = [];
    for (const name of await listFiles(this.dir)) {
      const hash = path.basename(name);
      const data = await fsp.readFile(name);
      checked++;
      bytes += data.length;
      if (sha256(data) !== hash) {
        corrupt.push(hash);
        await fsp.rm(name, { force: true });
      }
    }
    return { checked, corrupt, bytes };
  }
}

/** All files two levels below `dir` (`dir/ab/abcdef…`). */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  let shards: string[];
  try {
    shards = await fsp.readdir(dir);
  } catch {
    return out;
  }
  for (const shard of shards) {
    let names: string[];
    try {
      names = await fsp.readdir(path.join(dir, shard));
    } catch {
      continue;
    }
    for (const n of names) if (!n.startsWith('.tmp-')) out.push(path.join(dir, shard, n));
  }
  return out;
}
