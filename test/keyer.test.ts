/**
 * The whole-target digest and the per-node keys come from one place (engine/keyer.ts). The
 * no-op shortcut is sound only if an unchanged digest means unchanged node keys: random edits of
 * the inputs (files read and not read, status, reason, message, meta, items added and removed),
 * of the params, the kind's version and its identity must never change a node key while leaving
 * the digest as it was.
 */
import { describe, expect, it } from 'vitest';
import { Keyer } from '../src/engine/keyer.js';
import { viewsDigest } from '../src/engine/keys.js';
import { joinItem, assignItems, type TargetRun } from '../src/engine/items.js';
import type { TargetDef } from '../src/pipeline/model.js';
import type { ItemView, JsonObject, MapKind } from '../src/task-api.js';
import { rng } from '../bench/gen-programs.js';

const hex = (r: () => number) => Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(r() * 16)]).join('');

function kind(version: string): MapKind {
  return {
    name: 'probe', version, description: '', pool: 'cpu', mode: 'map', paramsSchema: { type: 'object', properties: { opt: { type: 'string' } } },
    reads: { from: ['prog.cpp'], asm: '*' },
    outputs: () => [],
    prepare: async () => ({}),
    run: async () => ({ status: 'ok' }),
  } as unknown as MapKind;
}

function def(params: JsonObject, version = '1'): TargetDef {
  return { name: 'probe', kindName: 'probe', kind: kind(version), mode: 'map', from: ['src'], with: { asm: 'asm' }, params, outDir: 'build/probe', loc: { line: 1, col: 1 } } as unknown as TargetDef;
}

interface World {
  src: ItemView[];
  asm: ItemView[];
  params: JsonObject;
  version: string;
  identity: JsonObject;
}

function view(key: string, files: Record<string, string>, meta: JsonObject = {}): ItemView {
  return { key, base: key, vars: {}, status: 'ok', files: Object.fromEntries(Object.entries(files).map(([n, h]) => [n, { hash: h, size: 1 }])), meta };
}

function runOf(views: ItemView[], d: TargetDef): TargetRun {
  const t: TargetRun = { def: d, views: new Map(views.map((v) => [v.key, v])), pending: new Set() };
  assignItems(t, views.map((v) => ({ key: v.key, base: v.base, vars: {} })));
  return t;
}

/** Every node key of the target, computed as the build computes them. */
function nodeKeys(w: World): Map<string, string> {
  const d = def(w.params, w.version);
  const keyer = new Keyer('/nowhere');
  const asm = runOf(w.asm, d);
  const keys = new Map<string, string>();
  for (const s of w.src) {
    const inputs: Record<string, ItemView> = { from: s };
    const j = joinItem(asm, { key: s.key, base: s.base, vars: {} });
    if (j) inputs.asm = asm.views.get(j.key)!;
    keys.set(s.key, keyer.nodeKey(d, Keyer.effectiveParams(d, {}), w.identity, Keyer.mapInputs(d, inputs)).key);
  }
  return keys;
}

function digest(w: World): string {
  const d = def(w.params, w.version);
  const up: Record<string, string> = { src: viewsDigest(w.src), asm: viewsDigest(w.asm) };
  return new Keyer('/nowhere').targetDigest(d, w.identity, (t) => up[t])!;
}

function clone(w: World): World {
  return JSON.parse(JSON.stringify(w)) as World;
}

const EDITS: ((w: World, r: () => number) => void)[] = [
  (w, r) => { const v = w.src[Math.floor(r() * w.src.length)]; if (v) v.files['prog.cpp']!.hash = hex(r); },
  (w, r) => { const v = w.src[Math.floor(r() * w.src.length)]; if (v) v.files['notes.txt'] = { hash: hex(r), size: 1 }; },
  (w, r) => { const v = w.asm[Math.floor(r() * w.asm.length)]; if (v) v.files['prog.s']!.hash = hex(r); },
  (w, r) => { const v = w.asm[Math.floor(r() * w.asm.length)]; if (v) { v.status = 'rejected'; v.reason = 'compile-error'; } },
  (w, r) => { const v = w.asm[Math.floor(r() * w.asm.length)]; if (v) v.message = `m${Math.floor(r() * 9)}`; },
  (w, r) => { const v = w.src[Math.floor(r() * w.src.length)]; if (v) v.meta = { lines: Math.floor(r() * 5) }; },
  (w) => { w.asm.pop(); },
  (w, r) => { const k = `p${Math.floor(r() * 1000)}`; w.src.push(view(k, { 'prog.cpp': hex(r) })); },
  (w, r) => { w.params = { opt: r() < 0.5 ? 'O0' : 'Os' }; },
  (w) => { w.version = `${Number(w.version) + 1}`; },
  (w, r) => { w.identity = { gxx: r() < 0.5 ? '12.2' : '13.1' }; },
];

describe('the whole-target digest and the node keys', () => {
  it('an unchanged digest always means unchanged node keys, over 2,000 random edits', () => {
    const r = rng(14);
    let keysChanged = 0;
    let digestOnly = 0;
    for (let round = 0; round < 2000; round++) {
      const n = 1 + Math.floor(r() * 5);
      const before: World = {
        src: Array.from({ length: n }, (_, i) => view(`p${i}`, { 'prog.cpp': hex(r), 'notes.txt': hex(r) })),
        asm: Array.from({ length: n }, (_, i) => view(`p${i}`, { 'prog.s': hex(r) })),
        params: { opt: 'O0' }, version: '1', identity: { gxx: '12.2' },
      };
      const after = clone(before);
      for (let e = 1 + Math.floor(r() * 2); e > 0; e--) EDITS[Math.floor(r() * EDITS.length)]!(after, r);
      const kb = nodeKeys(before);
      const ka = nodeKeys(after);
      const same = kb.size === ka.size && [...kb].every(([k, v]) => ka.get(k) === v);
      expect(digest(clone(before))).toBe(digest(before));
      if (!same) {
        keysChanged++;
        expect(digest(after), `round ${round}: node keys changed but the digest did not`).not.toBe(digest(before));
      } else if (digest(after) !== digest(before)) digestOnly++;
    }
    // The edits exercised both sides: keys that change, and changes the keys do not see (a file
    // the kind does not read) which the digest still counts, conservatively.
    expect(keysChanged).toBeGreaterThan(1000);
    expect(digestOnly).toBeGreaterThan(50);
  });

  it('the build keys a node with the same record the digest is made from', () => {
    const d = def({ opt: 'O0' });
    const keyer = new Keyer('/nowhere');
    const k = keyer.nodeKey(d, d.params, { gxx: '12.2' }, { from: { status: 'ok', files: { 'prog.cpp': 'a'.repeat(64) }, meta: 'x' } });
    expect(k.record).toMatchObject({ kind: 'probe', version: '1', params: { opt: 'O0' }, identity: { gxx: '12.2' } });
    expect(k.record.inputs).toEqual({ from: { status: 'ok', files: { 'prog.cpp': 'a'.repeat(64) }, meta: 'x' } });
  });
});
