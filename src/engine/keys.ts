/**
 * The key record: one per task run, holding every field that can change its result and
 * nothing else. Its sha256 is the action-cache key.
 *
 *   engine       bumped when the engine changes how keys or outputs work
 *   kind         task kind name, and `version` of its implementation
 *   params       the target's params, with the item's matrix variables applied
 *   identity     what the kind's prepare() reported (toolchain --version, triple, flags, ...)
 *   env          hashes of the environment variables the kind declares
 *   inputs       per input name: status, reason, the hashes of the files the kind reads, and
 *                the hash of the item's meta; aggregating kinds also see each item's key
 *
 * Not in it: the item's own name (identical programs share one entry), paths, times.
 *
 * The key is sha256(hash(everything but inputs) + canonical inputs): the shared part is hashed
 * once per target, so a 10,000-item no-op build hashes 10,000 small input records, not
 * 10,000 full ones. The full record is kept in the action cache for --explain.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, hashJson, sha256 } from '../hash.js';
import type { ItemView, Json, JsonObject } from '../task-api.js';

export const ENGINE_KEY_VERSION = 2;

export interface KeyParts {
  kind: string;
  kindVersion: string;
  params: JsonObject;
  identity: JsonObject;
  env: Record<string, string>;
  inputs: Record<string, Json>;
}

export function keyOf(record: JsonObject): string {
  return hashJson(record);
}

/**
 * The key of a record split in two: the part every node of a target shares (hashed once per
 * target and parameter set) and the node's own inputs. Equal records give equal keys.
 */
export function splitKey(sharedHash: string, inputs: Json): string {
  return sha256(`${sharedHash}\n${canonicalJson(inputs)}`);
}

export function sharedPart(p: Omit<KeyParts, 'inputs'>): { record: JsonObject; hash: string } {
  const record: JsonObject = {
    engine: ENGINE_KEY_VERSION, kind: p.kind, version: p.kindVersion, params: p.params, identity: p.identity, env: p.env,
  };
  return { record, hash: hashJson(record) };
}

/**
 * Whether a kind's `reads` list covers the file `name`: '*', the exact name, or a folder pattern
 * `cases/*` for every file named `cases/<something>` (the test cases of a program).
 */
export function readsFile(reads: string[] | '*', name: string): boolean {
  if (reads === '*' || reads.includes(name)) return true;
  return reads.some((r) => r.endsWith('/*') && name.startsWith(r.slice(0, -1)));
}

/** The part of an input item that enters a key. */
export function itemFingerprint(v: ItemView, reads: string[] | '*', withKey: boolean): JsonObject {
  const files: JsonObject = {};
  for (const [name, ref] of Object.entries(v.files)) {
    if (readsFile(reads, name)) files[name] = ref.hash;
  }
  const fp: JsonObject = { status: v.status, files, meta: hashJson(v.meta) };
  if (v.reason) fp.reason = v.reason;
  if (withKey) fp.key = v.key;
  if (withKey && v.paths) {
    const paths: JsonObject = {};
    for (const [name, rel] of Object.entries(v.paths)) if (reads === '*' || reads.includes(name)) paths[name] = rel;
    fp.paths = paths;
  }
  return fp;
}

export function envFingerprint(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = process.env[n];
    // Only a hash of the value enters the key, never the value itself.
    out[n] = v === undefined ? '<unset>' : sha256(`${n}=${v}`).slice(0, 16);
  }
  return out;
}

/** What changed between two key records, as readable lines (for --explain). */
export function diffKeyRecords(before: Json, after: Json, prefix = ''): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const isObj = (x: Json): x is JsonObject => !!x && typeof x === 'object' && !Array.isArray(x);
  if (isObj(before) && isObj(after)) {
    const out: string[] = [];
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const k of [...keys].sort()) {
      const p = prefix ? `${prefix}.${k}` : k;
      if (!(k in before)) out.push(`${p}: added (${short(after[k])})`);
      else if (!(k in after)) out.push(`${p}: removed (was ${short(before[k])})`);
      else out.push(...diffKeyRecords(before[k], after[k], p));
    }
    return out;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => diffKeyRecords(b, after[i], `${prefix}[${i}]`));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    return [`${prefix}: ${before.length} → ${after.length} entries`];
  }
  return [`${prefix}: ${short(before)} → ${short(after)}`];
}

function short(v: Json | undefined): string {
  if (typeof v === 'string') return /^[0-9a-f]{64}$/.test(v) ? v.slice(0, 10) : JSON.stringify(v).slice(0, 80);
  return JSON.stringify(v)?.slice(0, 80) ?? 'undefined';
}

/**
 * Digest of a whole collection (every item's key, status, reason, message, files and meta), in
 * item-key order. A target whose upstream digests and shared key part are unchanged has unchanged
 * node keys, which lets a no-op build skip keying its nodes one by one.
 */
export function viewsDigest(views: Iterable<ItemView>): string {
  const list = [...views].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const h = createHash('sha256');
  for (const v of list) {
    h.update(`${v.key}\0${v.status}\0${v.reason ?? ''}\0${v.message ?? ''}\0`);
    for (const name of Object.keys(v.files).sort()) h.update(`${name}=${v.files[name]!.hash}\0`);
    h.update(Object.keys(v.meta).length ? canonicalJson(v.meta) : '{}');
    h.update('\n');
  }
  return h.digest('hex');
}

/** What a map target's node keys are made of, for the whole target: see `viewsDigest`. */
export function targetInputsDigest(parts: { shared: string; from: string[]; with: Record<string, string>; reads?: Json; upstream: Record<string, string> }): string {
  return hashJson({ engine: ENGINE_KEY_VERSION, ...parts, reads: parts.reads ?? null });
}
