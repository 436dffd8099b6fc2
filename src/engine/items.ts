/**
 * Expansion: the items of a target and how they join. Pure functions over item lists; the build
 * holds the state (`TargetRun`) and calls these as collections become known.
 */
import type { TargetDef } from '../pipeline/model.js';
import type { FileRef, ItemView } from '../task-api.js';
import type { ActionRecord, NodeState, OutStat } from '../store/index.js';
import { readsFile } from './keys.js';

/** One item of a target: its key (`base[var=value,...]`), the program it comes from, its matrix values. */
export interface ItemDesc {
  key: string;
  base: string;
  vars: Record<string, string>;
}

/** A target during one build. */
export interface TargetRun {
  def: TargetDef;
  /** Item list, once known. */
  items?: ItemDesc[];
  byBase?: Map<string, ItemDesc[]>;
  views: Map<string, ItemView>;
  /** Dry run: nodes whose result is not known because they (or an input) would run. */
  pending: Set<string>;
  /** Outputs of the previous build, to remove what is no longer produced (see `OutputApplier.outsOf`). */
  outs?: Map<string, Record<string, OutStat>>;
  /** `viewsDigest` of the whole collection, once every item of it is settled in this build. */
  digest?: string;
}

/** One node of a map target: its item, the primary input's item, and the joined `with:` items. */
export interface MapPair {
  item: ItemDesc;
  upstream: ItemDesc;
  joined: Record<string, ItemDesc | undefined>;
}

export function itemKeyOf(base: string, vars: Record<string, string>): string {
  const names = Object.keys(vars).sort();
  return names.length ? `${base}[${names.map((n) => `${n}=${vars[n]}`).join(',')}]` : base;
}

export function fileStemOf(base: string, vars: Record<string, string>): string {
  const names = Object.keys(vars).sort();
  return names.length ? `${base}.${names.map((n) => vars[n]).join('.')}` : base;
}

/** `fizzbuzz[opt=O2]` → `fizzbuzz` (see itemKeyOf). */
export function baseOfKey(key: string): string {
  const i = key.indexOf('[');
  return i < 0 ? key : key.slice(0, i);
}

/** Sorts `items` by key and indexes them by base. */
export function assignItems(t: TargetRun, items: ItemDesc[]): void {
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  t.items = items;
  t.byBase = new Map();
  for (const it of items) {
    const list = t.byBase.get(it.base);
    if (list) list.push(it);
    else t.byBase.set(it.base, [it]);
  }
}

/** The item of `t` that joins `item`: same base, and variables that agree. */
export function joinItem(t: TargetRun, item: ItemDesc): ItemDesc | undefined {
  const candidates = t.byBase?.get(item.base) ?? [];
  return candidates.find((c) => Object.entries(c.vars).every(([k, v]) => item.vars[k] === undefined || item.vars[k] === v));
}

/** A map target's nodes: every primary item times every matrix combination, joined with `with:`. */
export function mapPairs(def: TargetDef, runOf: (target: string) => TargetRun): MapPair[] {
  const primary = runOf(def.from[0]!);
  const combos = matrixCombos(def.matrix);
  const pairs: MapPair[] = [];
  for (const p of primary.items!) {
    for (const combo of combos) {
      const vars = { ...p.vars, ...combo };
      const item = { key: itemKeyOf(p.base, vars), base: p.base, vars };
      const joined: Record<string, ItemDesc | undefined> = {};
      for (const [name, w] of Object.entries(def.with)) joined[name] = joinItem(runOf(w), item);
      pairs.push({ item, upstream: p, joined });
    }
  }
  return pairs;
}

export function matrixCombos(matrix: Record<string, string[]> | undefined): Record<string, string>[] {
  if (!matrix) return [{}];
  let combos: Record<string, string>[] = [{}];
  for (const [k, values] of Object.entries(matrix)) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
  }
  return combos;
}

/** The view a kind is shown of an input: only the files it declares it reads. */
export function filterFiles(v: ItemView, reads: string[] | '*'): ItemView {
  if (reads === '*') return v;
  const files: Record<string, FileRef> = {};
  for (const [n, ref] of Object.entries(v.files)) if (readsFile(reads, n)) files[n] = ref;
  return { ...v, files };
}

export function viewOf(item: ItemDesc | undefined, nodeKey: string, st: NodeState | ActionRecord): ItemView {
  return {
    key: nodeKey, base: item?.base ?? nodeKey, vars: item?.vars ?? {}, status: st.status, reason: st.reason,
    message: st.message, files: st.files, meta: st.meta,
  };
}

/**
 * `input asm was rejected: compile-error`, then the first rejection's own message (the compiler's
 * text), so a report further down can show it; an input that was itself propagated passes on its
 * original message, not its own first line.
 */
export function propagatedMessage(input: string, v: ItemView): string {
  const head = `input ${input} was rejected: ${v.reason}`;
  if (!v.message) return head;
  const original = v.message.startsWith('input ') ? v.message.split('\n').slice(1).join('\n') : v.message;
  return original ? `${head}\n${original}` : head;
}

/** The view of an item whose input was rejected: rejected for the same reason, nothing run. */
export function rejectedInput(def: TargetDef, pair: MapPair, viewOfInput: (target: string, item: ItemDesc | undefined) => ItemView | undefined): ItemView | undefined {
  const { item, upstream, joined } = pair;
  const inputs: [string, ItemView | undefined][] = [['from', viewOfInput(def.from[0]!, upstream)]];
  for (const [name, j] of Object.entries(joined)) inputs.push([name, viewOfInput(def.with[name]!, j)]);
  const rejected = inputs.find(([, v]) => v?.status === 'rejected');
  if (!rejected) return undefined;
  const [name, v] = rejected as [string, ItemView];
  return {
    key: item.key, base: item.base, vars: item.vars, status: 'rejected', reason: v.reason,
    message: propagatedMessage(name === 'from' ? def.from[0]! : def.with[name]!, v), files: {}, meta: {},
  };
}
