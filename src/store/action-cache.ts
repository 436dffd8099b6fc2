/**
 * The action cache: key → what running the task produced (status, output blobs, meta,
 * captured log). Records are written only after every blob they name is in the store, and
 * carry a checksum of their own body so a damaged record is detected and dropped.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { canonicalJson, sha256 } from '../hash.js';
import { writeFileAtomic, type TempPlace } from '../fsutil.js';
import type { FileRef, JsonObject } from '../task-api.js';
import { listFiles } from './cas.js';
import type { ActionCache } from './interfaces.js';

export interface GeneratedItemRecord {
  base: string;
  files: Record<string, FileRef>;
  meta: JsonObject;
}

export interface ActionRecord {
  key: string;
  /** The record the key hashes (kept for --explain). */
  keyRecord: JsonObject;
  target: string;
  kind: string;
  status: 'ok' | 'rejected';
  reason?: string;
  message?: string;
  files: Record<string, FileRef>;
  meta: JsonObject;
  log?: FileRef;
  items?: GeneratedItemRecord[];
  createdAt: string;
  durationMs: number;
}

export class LocalActionCache implements ActionCache {
  constructor(readonly dir: string, private readonly temp: TempPlace = {}) {}

  pathOf(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  /** Cheap existence check before an asynchronous read (most lookups in a big build miss). */
  hasSync(key: string): boolean {
    return existsSync(this.pathOf(key));
  }

  peek(key: string): boolean {
    return this.hasSync(key);
  }

  /** Undefined when absent or damaged (a damaged record is removed). */
  async get(key: string): Promise<ActionRecord | undefined> {
    let text: string;
    try {
      text = await fsp.readFile(this.pathOf(key), 'utf8');
    } catch {
      return undefined;
    }
    const rec = parseRecord(text);
    if (!rec || rec.key !== key) {
      await fsp.rm(this.pathOf(key), { force: true });
      return undefined;
    }
    return rec;
  }

  async put(rec: ActionRecord): Promise<void> {
    await writeFileAtomic(this.pathOf(rec.key), encodeRecord(rec), { tmpDir: this.temp.dir });
  }

  async touch(key: string): Promise<void> {
    const now = new Date();
    await fsp.utimes(this.pathOf(key), now, now).catch(() => {});
  }

  async remove(key: string): Promise<void> {
    await fsp.rm(this.pathOf(key), { force: true });
  }

  async *entries(): AsyncGenerator<{ file: string; record: ActionRecord | undefined }> {
    for (const file of await listFiles(this.dir)) {
      let rec: ActionRecord | undefined;
      try {
        rec = parseRecord(await fsp.readFile(file, 'utf8'));
      } catch {
        rec = undefined;
      }
      yield { file, record: rec };
    }
  }
}

/** A record as stored (here and on a remote cache): the record with a checksum of its canonical JSON. */
export function encodeRecord(rec: ActionRecord): string {
  return JSON.stringify({ sum: sha256(canonicalJson(rec)), record: rec });
}

/** The record in `text` when its checksum holds (undefined otherwise). */
export function decodeRecord(text: string): ActionRecord | undefined {
  return parseRecord(text);
}

function parseRecord(text: string): ActionRecord | undefined {
  try {
    const parsed = JSON.parse(text) as { sum?: string; record?: ActionRecord };
    if (!parsed.record || parsed.sum !== sha256(canonicalJson(parsed.record))) return undefined;
    return parsed.record;
  } catch {
    return undefined;
  }
}
