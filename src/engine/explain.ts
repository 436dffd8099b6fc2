/**
 * Why a node is stale, in the user's words: which file changed (`sources/fizzbuzz.cpp changed
 * (29ae3d0a → c6829604)`), which parameter (`params.opt: "O0" → "O2"`), which toolchain, which
 * upstream output (`asm/fizzbuzz's output changed`). Built from the difference between the key
 * record of the last build of the node and the current one.
 */
import type { Json, JsonObject } from '../task-api.js';
import { diffKeyRecords } from './keys.js';

/** Where an input of the node comes from. */
export interface InputOrigin {
  /** The upstream target. */
  target: string;
  /** Its item, for a per-item input (aggregates: the items are the record's keys). */
  item?: string;
  /** True for a target whose items are files on disk. */
  source: boolean;
}

export interface ExplainContext {
  inputs: Record<string, InputOrigin>;
  /** The project path of a source item's file (`sources/fizzbuzz.cpp`), when known. */
  sourcePath(target: string, item: string, file: string): string | undefined;
}

const isObj = (x: Json | undefined): x is JsonObject => !!x && typeof x === 'object' && !Array.isArray(x);
const short = (h: Json | undefined) => (typeof h === 'string' ? h.slice(0, 8) : 'none');

export function explainChange(before: JsonObject, after: JsonObject, ctx: ExplainContext): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const b = before[k];
    const a = after[k];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    if (k === 'inputs' && isObj(b) && isObj(a)) out.push(...inputChanges(b, a, ctx));
    else if (k === 'version' || k === 'kind') out.push(`the ${String(after.kind)} task's implementation changed (${k} ${JSON.stringify(b)} → ${JSON.stringify(a)})`);
    else if (k === 'engine') out.push(`the engine's key format changed (${JSON.stringify(b)} → ${JSON.stringify(a)})`);
    else if (k === 'identity' && isObj(b) && isObj(a)) out.push(...identityChanges(b, a));
    else if (k === 'env' && isObj(b) && isObj(a)) {
      for (const n of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) if (b[n] !== a[n]) out.push(`environment variable ${n} changed`);
    } else out.push(...diffKeyRecords(b ?? null, a ?? null, k).map(bareWords));
  }
  return out.length ? out : ['the key record changed'];
}

/** `params.opt: "O0" → "O2"` reads as `params.opt: O0 → O2`. */
function bareWords(line: string): string {
  const m = /^(.*?: )(.*) → (.*)$/.exec(line);
  if (!m) return line;
  const bare = (v: string) => (/^"[\w.+=/-]*"$/.test(v) ? v.slice(1, -1) : v);
  return `${m[1]}${bare(m[2]!)} → ${bare(m[3]!)}`;
}

function identityChanges(before: JsonObject, after: JsonObject): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const b = before[k];
    const a = after[k];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    const diffs = diffKeyRecords(b ?? null, a ?? null, '').map((d) => d.replace(/^\.?/, ''));
    if (k === 'toolchain' && (isObj(a) || isObj(b))) {
      const name = String((isObj(a) ? a.name : undefined) ?? (isObj(b) ? b.name : ''));
      out.push(`toolchain ${name} changed (toolchain/${name}.yaml or its compiler): ${diffs.join('; ')}`);
    } else out.push(`${k} changed: ${diffs.join('; ')}`);
  }
  return out;
}

function inputChanges(before: JsonObject, after: JsonObject, ctx: ExplainContext): string[] {
  const out: string[] = [];
  for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const b = before[name];
    const a = after[name];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    const origin = ctx.inputs[name];
    if (!origin) {
      out.push(...diffKeyRecords(b ?? null, a ?? null, `inputs.${name}`));
      continue;
    }
    if (origin.item !== undefined) {
      out.push(...itemChanges(origin.target, origin.item, origin.source, b, a, ctx));
      continue;
    }
    // An aggregate's input: one entry per item of the collection.
    if (!isObj(b) || !isObj(a)) {
      out.push(`${origin.target} changed`);
      continue;
    }
    const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
    const lines: string[] = [];
    for (const key of keys) {
      if (!(key in b)) {
        // A new source item: name its file (curation.yaml added), as for a changed one.
        const entry = a[key];
        const file = isObj(entry) && isObj(entry.files) ? Object.keys(entry.files)[0] : undefined;
        const rel = origin.source && file !== undefined ? ctx.sourcePath(origin.target, key, file) : undefined;
        lines.push(rel ? `${rel} added` : `${origin.target}/${key} added`);
      }
      else if (!(key in a)) lines.push(`${origin.target}/${key} removed`);
      else lines.push(...itemChanges(origin.target, key, origin.source, b[key], a[key], ctx));
    }
    out.push(...(lines.length > 8 ? [...lines.slice(0, 8), `… and ${lines.length - 8} more changes in ${origin.target}`] : lines));
  }
  return out;
}

function itemChanges(target: string, item: string, source: boolean, before: Json | undefined, after: Json | undefined, ctx: ExplainContext): string[] {
  const id = `${target}/${item}`;
  if (!isObj(before)) return [`${id} is a new input`];
  if (!isObj(after)) return [`${id} is no longer an input`];
  const out: string[] = [];
  if (before.status !== after.status || before.reason !== after.reason) {
    out.push(after.status === 'rejected' ? `${id} is now rejected (${String(after.reason)})` : `${id} is no longer rejected (was ${String(before.reason)})`);
  }
  const bf = isObj(before.files) ? before.files : {};
  const af = isObj(after.files) ? after.files : {};
  const changedFiles = [...new Set([...Object.keys(bf), ...Object.keys(af)])].sort().filter((f) => bf[f] !== af[f]);
  if (source) {
    for (const f of changedFiles) {
      const rel = ctx.sourcePath(target, item, f) ?? `${id} (${f})`;
      if (!(f in bf)) out.push(`${rel} added`);
      else if (!(f in af)) out.push(`${rel} removed`);
      else out.push(`${rel} changed (${short(bf[f])} → ${short(af[f])})`);
    }
  } else if (changedFiles.length) {
    out.push(`${id}'s output changed (${changedFiles.map((f) => `${f}: ${short(bf[f])} → ${short(af[f])}`).join(', ')})`);
  }
  if (before.meta !== after.meta && !changedFiles.length && before.status === after.status) out.push(`${id}'s metadata changed`);
  if (before.key !== after.key && !out.length) out.push(`${id} changed`);
  return out;
}
