/**
 * `asmgraph cache gc` and `cache verify`.
 *
 * gc evicts least-recently-used action records (and then the blobs nothing references any
 * more) until the store fits in --max-size, never touching what the current graph's last
 * build references. verify re-hashes every blob and checks every record, removing what is
 * corrupt or dangling so it is rebuilt on next use.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { acquireLock } from '../lock.js';
import type { Pipeline } from '../pipeline/model.js';
import { storeOf } from '../project.js';
import { listFiles } from '../store/cas.js';
import type { ActionRecord } from '../store/index.js';

export interface GcReport {
  before: number;
  after: number;
  evictedRecords: number;
  removedBlobs: number;
  protectedRecords: number;
}

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size "${s}": use e.g. 500M or 2G`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

function refsOf(rec: ActionRecord): string[] {
  const out = Object.values(rec.files).map((f) => f.hash);
  if (rec.log) out.push(rec.log.hash);
  for (const it of rec.items ?? []) out.push(...Object.values(it.files).map((f) => f.hash));
  return out;
}

export async function gc(p: Pipeline, maxBytes: number, onWait: (h: string) => void): Promise<GcReport> {
  const store = storeOf(p);
  const release = await acquireLock(store.dir, onWait);
  try {
    await store.open();
    const protectedKeys = new Set<string>();
    // The current sources' blobs stay: builds trust the stat fast path to say they are stored.
    const protectedBlobs = store.hasher.knownHashes();
    for (const name of p.targets.keys()) {
      const st = await store.states.load(name);
      for (const ns of Object.values(st.nodes)) {
        protectedKeys.add(ns.key);
        for (const f of Object.values(ns.files)) protectedBlobs.add(f.hash);
      }
    }
    const records: { file: string; key: string; mtime: number; size: number; refs: string[] }[] = [];
    for await (const { file, record } of store.actions.entries()) {
      const st = await fsp.stat(file);
      if (!record) {
        await fsp.rm(file, { force: true });
        continue;
      }
      records.push({ file, key: record.key, mtime: st.mtimeMs, size: st.size, refs: refsOf(record) });
    }
    const blobs = new Map<string, number>();
    for (const f of await listFiles(store.blobs.dir)) blobs.set(path.basename(f), (await fsp.stat(f)).size);
    const total = () => [...blobs.values()].reduce((a, b) => a + b, 0) + records.reduce((a, r) => a + r.size, 0);
    const before = total();
    const refCount = new Map<string, number>();
    for (const r of records) for (const h of r.refs) refCount.set(h, (refCount.get(h) ?? 0) + 1);
    let evicted = 0;
    let removedBlobs = 0;
    const dropBlob = async (h: string) => {
      if (protectedBlobs.has(h) || (refCount.get(h) ?? 0) > 0 || !blobs.has(h)) return;
      await fsp.rm(store.blobs.pathOf(h), { force: true });
      blobs.delete(h);
      removedBlobs++;
    };
    // Blobs no record references (old sources, leftovers) go first.
    if (total() > maxBytes) for (const h of [...blobs.keys()]) await dropBlob(h);
    records.sort((a, b) => a.mtime - b.mtime);
    for (const r of [...records]) {
      if (total() <= maxBytes) break;
      if (protectedKeys.has(r.key)) continue;
      await fsp.rm(r.file, { force: true });
      records.splice(records.indexOf(r), 1);
      evicted++;
      for (const h of r.refs) refCount.set(h, (refCount.get(h) ?? 1) - 1);
      for (const h of r.refs) await dropBlob(h);
    }
    return { before, after: total(), evictedRecords: evicted, removedBlobs, protectedRecords: protectedKeys.size };
  } finally {
    await release();
  }
}

export interface VerifyReport {
  blobs: number;
  bytes: number;
  corruptBlobs: string[];
  records: number;
  corruptRecords: number;
  danglingRecords: number;
}

export async function verify(p: Pipeline, onWait: (h: string) => void): Promise<VerifyReport> {
  const store = storeOf(p);
  const release = await acquireLock(store.dir, onWait);
  try {
    await store.open();
    const b = await store.blobs.verifyAll();
    let records = 0;
    let corruptRecords = 0;
    let dangling = 0;
    for await (const { file, record } of store.actions.entries()) {
      records++;
      if (!record) {
        corruptRecords++;
        await fsp.rm(file, { force: true });
        continue;
      }
      const refs = [...Object.values(record.files), ...(record.log ? [record.log] : []), ...(record.items ?? []).flatMap((i) => Object.values(i.files))];
      const ok = await Promise.all(refs.map((r) => store.blobs.has(r)));
      if (!ok.every(Boolean)) {
        dangling++;
        await fsp.rm(file, { force: true });
      }
    }
    return { blobs: b.checked, bytes: b.bytes, corruptBlobs: b.corrupt, records, corruptRecords, danglingRecords: dangling };
  } finally {
    await release();
  }
}
