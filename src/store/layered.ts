/**
 * The local store as the first layer over a remote HTTP cache (remote-http.ts).
 *
 * Reading: a local miss asks the remote. A remote record is used only when its checksum holds,
 * it is the record of the key asked for, and every blob it names can be fetched and matches its
 * hash and size; those blobs are stored locally first, then the record. Anything else is a miss
 * (the node runs and its result is uploaded again, repairing the server).
 *
 * Writing: the record of a node that ran (a result or a rejection; a failed run has no record)
 * is uploaded after the blobs it names: each blob is probed with HEAD and only missing ones are
 * PUT (and any the remote was seen to serve wrongly, which are overwritten). Read-only mode and
 * dry runs upload nothing; dry runs also store nothing locally.
 */
import { sha256 } from '../hash.js';
import type { FileRef } from '../task-api.js';
import { decodeRecord, encodeRecord, type ActionRecord, type LocalActionCache } from './action-cache.js';
import { CorruptEntryError, type LocalBlobStore } from './cas.js';
import { refsOf, type ActionCache, type BlobStore } from './interfaces.js';
import type { HttpCache } from './remote-http.js';

export interface LayerOptions {
  readOnly?: boolean;
  /** Verify what the remote has, but write nothing anywhere. */
  dryRun?: boolean;
  /** Entries the remote served wrongly (named, so a user can look at the server). */
  onWarning?: (message: string) => void;
}

/** Counts for the end of a build. */
export interface LayerStats {
  downloadedRecords: number;
  uploadedRecords: number;
  uploadedBlobs: number;
  rejectedEntries: number;
}

export class RemoteLayer {
  readonly blobs: LayeredBlobStore;
  readonly actions: LayeredActionCache;
  readonly stats: LayerStats = { downloadedRecords: 0, uploadedRecords: 0, uploadedBlobs: 0, rejectedEntries: 0 };
  /** Hashes the remote served with other bytes: uploaded again even though HEAD finds them. */
  readonly poisoned = new Set<string>();
  /** Hashes known to be on the remote (uploaded or verified in this run). */
  readonly onRemote = new Set<string>();

  constructor(
    readonly local: { blobs: LocalBlobStore; actions: LocalActionCache },
    readonly remote: HttpCache,
    readonly opts: LayerOptions = {},
  ) {
    this.blobs = new LayeredBlobStore(this);
    this.actions = new LayeredActionCache(this);
  }

  warn(message: string): void {
    this.stats.rejectedEntries++;
    this.opts.onWarning?.(message);
  }

  /** Fetches a blob from the remote and checks it; stores it locally unless this is a dry run. */
  async fetchBlob(ref: FileRef, what: string): Promise<Buffer | undefined> {
    if (this.poisoned.has(ref.hash)) return undefined;
    const bytes = await this.remote.getBlob(ref.hash);
    if (!bytes) return undefined;
    if (bytes.length !== ref.size || sha256(bytes) !== ref.hash) {
      this.poisoned.add(ref.hash);
      this.warn(`remote cache: cas/${ref.hash} (${what}) holds other bytes than its hash names; not used, rebuilt and uploaded again`);
      return undefined;
    }
    this.onRemote.add(ref.hash);
    if (!this.opts.dryRun) await this.local.blobs.put(bytes);
    return bytes;
  }

  get writable(): boolean {
    return !this.opts.readOnly && !this.opts.dryRun && this.remote.writable;
  }

  /** Uploads a record's blobs (missing ones only), then the record. */
  async upload(rec: ActionRecord): Promise<void> {
    if (!this.writable) return;
    // The blobs at once (a round trip each on a real network), then, only if all are there, the record.
    const sent = await Promise.all(refsOf(rec).map(async (ref) => {
      if (this.onRemote.has(ref.hash) && !this.poisoned.has(ref.hash)) return true;
      if (!this.poisoned.has(ref.hash) && (await this.remote.headBlob(ref.hash))) {
        this.onRemote.add(ref.hash);
        return true;
      }
      if (!this.remote.writable) return false;
      const bytes = await this.local.blobs.read(ref);
      if (!(await this.remote.putBlob(ref.hash, bytes))) return false;
      this.poisoned.delete(ref.hash);
      this.onRemote.add(ref.hash);
      this.stats.uploadedBlobs++;
      return true;
    }));
    // The record must not go without its blobs.
    if (!sent.every(Boolean) || !this.remote.writable) return;
    if (await this.remote.putRecord(rec.key, encodeRecord(rec))) this.stats.uploadedRecords++;
  }
}

export class LayeredBlobStore implements BlobStore {
  constructor(private readonly layer: RemoteLayer) {}

  put(data: string | Uint8Array): Promise<FileRef> {
    return this.layer.local.blobs.put(data);
  }

  async has(ref: FileRef): Promise<boolean> {
    return this.layer.local.blobs.hasSync(ref) || (this.layer.remote.available && (await this.layer.remote.headBlob(ref.hash)));
  }

  async read(ref: FileRef): Promise<Buffer> {
    try {
      return await this.layer.local.blobs.read(ref);
    } catch (err) {
      if (!(err instanceof CorruptEntryError)) throw err;
      const bytes = await this.layer.fetchBlob(ref, 'an input');
      if (!bytes) throw err;
      return bytes;
    }
  }

  async localPath(ref: FileRef): Promise<string> {
    if (!this.layer.local.blobs.hasSync(ref)) await this.read(ref);
    return this.layer.local.blobs.localPath(ref);
  }
}

export class LayeredActionCache implements ActionCache {
  constructor(private readonly layer: RemoteLayer) {}

  async get(key: string): Promise<ActionRecord | undefined> {
    const { local, remote } = this.layer;
    if (local.actions.hasSync(key)) {
      const rec = await local.actions.get(key);
      if (rec) return rec;
    }
    if (!remote.available) return undefined;
    const body = await remote.getRecord(key);
    if (!body) return undefined;
    const rec = decodeRecord(body.toString('utf8'));
    if (!rec || rec.key !== key) {
      this.layer.warn(`remote cache: ac/${key} is damaged or is the record of another key; not used, rebuilt and uploaded again`);
      return undefined;
    }
    // Every blob it names, verified (and stored locally) before the record is trusted; fetched at once.
    const found = await Promise.all(refsOf(rec).filter((ref) => !local.blobs.hasSync(ref)).map(async (ref) => {
      if (this.layer.opts.dryRun) return remote.headBlob(ref.hash);
      return !!(await this.layer.fetchBlob(ref, `named by ${rec.target}`));
    }));
    if (!found.every(Boolean)) return undefined;
    if (!this.layer.opts.dryRun) await local.actions.put(rec);
    this.layer.stats.downloadedRecords++;
    return rec;
  }

  async put(rec: ActionRecord): Promise<void> {
    await this.layer.local.actions.put(rec);
    await this.layer.upload(rec);
  }

  /** Forgets the local copy; the remote one is verified again if it is asked for. */
  remove(key: string): Promise<void> {
    return this.layer.local.actions.remove(key);
  }
}
