/**
 * The one place that builds a node's key and a whole map target's digest, from the same parts:
 * the shared part (kind, version, params, the kind's identity, the declared environment) and the
 * inputs as the kind reads them. A map target whose digest is what the last build recorded has
 * every node key unchanged (`test/keyer.test.ts` holds the two equivalent), which lets a no-op
 * build skip keying its nodes one by one. See keys.ts for the key record itself.
 */
import { canonicalJson } from '../hash.js';
import type { TargetDef } from '../pipeline/model.js';
import { directDeps } from '../pipeline/model.js';
import type { Facts, ItemView, Json, JsonObject, MapKind } from '../task-api.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { envFingerprint, itemFingerprint, sharedPart, splitKey, targetInputsDigest } from './keys.js';

export interface NodeKey {
  key: string;
  /** The full key record (kept in the action cache for --explain). */
  record: JsonObject;
}

const EMPTY: JsonObject = {};

export class Keyer {
  private readonly identities = new Map<string, Promise<JsonObject>>();
  private readonly resolvedIdentities = new Map<string, JsonObject>();
  private readonly shared = new Map<string, { record: JsonObject; hash: string }>();

  constructor(private readonly projectRoot: string, private readonly facts?: Facts, private readonly sandbox?: () => Sandbox) {}

  /** The kind's identity for these params (its prepare(): toolchain version, flags, ...), once per target and params. */
  identity(def: TargetDef, params: JsonObject, vars?: Record<string, string>): Promise<JsonObject> {
    const kind = def.kind;
    if (!kind.prepare) return Promise.resolve(EMPTY);
    const k = this.identityKey(def, params);
    let p = this.identities.get(k);
    if (!p) {
      p = kind.prepare({ projectRoot: this.projectRoot, target: def.name, params, vars, facts: this.facts, sandbox: this.sandbox?.() });
      this.identities.set(k, p);
      p.then((v) => this.resolvedIdentities.set(k, v), () => {});
    }
    return p;
  }

  /** The identity without waiting, once it is known (most nodes of a target). */
  identityNow(def: TargetDef, params: JsonObject): JsonObject | undefined {
    if (!def.kind.prepare) return EMPTY;
    return this.resolvedIdentities.get(this.identityKey(def, params));
  }

  async identityOf(def: TargetDef, params: JsonObject, vars?: Record<string, string>): Promise<JsonObject> {
    return this.identityNow(def, params) ?? this.identity(def, params, vars);
  }

  /** A node's key and record from its params, identity and input fingerprints. */
  nodeKey(def: TargetDef, params: JsonObject, identity: JsonObject, inputs: Record<string, Json>): NodeKey {
    const shared = this.sharedKey(def, params, identity);
    return { key: splitKey(shared.hash, inputs), record: { ...shared.record, inputs } };
  }

  /**
   * The whole map target's digest, given the `viewsDigest` of each input collection: changes
   * whenever any node key of the target could (see the file's comment). Undefined while an input
   * collection is not summed up.
   */
  targetDigest(def: TargetDef, identity: JsonObject, upstream: (target: string) => string | undefined): string | undefined {
    const digests: Record<string, string> = {};
    for (const d of directDeps(def)) {
      const digest = upstream(d);
      if (!digest) return undefined;
      digests[d] = digest;
    }
    const shared = this.sharedKey(def, def.params, identity).hash;
    return targetInputsDigest({ shared, from: def.from, with: def.with, reads: (def.kind as MapKind).reads as Json, upstream: digests });
  }

  /** What each input of a map node contributes to its key: the files the kind reads, status, meta. */
  static mapInputs(def: TargetDef, inputs: Record<string, ItemView>): Record<string, Json> {
    const reads = (def.kind as MapKind).reads;
    const fingerprints: Record<string, Json> = {};
    for (const [name, v] of Object.entries(inputs)) fingerprints[name] = itemFingerprint(v, reads?.[name] ?? '*', false);
    return fingerprints;
  }

  /** The same for an aggregate: every item of each input collection, with its key. */
  static reduceInput(views: ItemView[], reads: string[] | '*'): JsonObject {
    const fp: JsonObject = {};
    for (const v of views) fp[v.key] = itemFingerprint(v, reads, true);
    return fp;
  }

  /** The params a matrix item runs with: the target's, with the item's variables that are params. */
  static effectiveParams(def: TargetDef, vars: Record<string, string>): JsonObject {
    const props = (def.kind.paramsSchema.properties ?? {}) as JsonObject;
    const applied = Object.entries(vars).filter(([k]) => k in props);
    if (!applied.length) return def.params;
    const out: JsonObject = { ...def.params };
    for (const [k, v] of applied) out[k] = v;
    return out;
  }

  /** The key part shared by a target's nodes with the same parameters, computed once. */
  private sharedKey(def: TargetDef, params: JsonObject, identity: JsonObject): { record: JsonObject; hash: string } {
    const memo = params === def.params ? def.name : `${def.name}|${canonicalJson(params)}`;
    let s = this.shared.get(memo);
    if (!s) {
      const kind = def.kind;
      s = sharedPart({ kind: kind.name, kindVersion: kind.version, params, identity, env: envFingerprint(kind.env?.(params) ?? []) });
      this.shared.set(memo, s);
    }
    return s;
  }

  private identityKey(def: TargetDef, params: JsonObject): string {
    return params === def.params ? `${def.kind.name}|${def.name}` : `${def.kind.name}|${canonicalJson(params)}`;
  }
}
