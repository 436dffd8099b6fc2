/** `asmgraph clean`: removes materialized outputs; the store is untouched, so a rebuild restores them. */
import * as path from 'node:path';
import { removeAndPrune } from '../fsutil.js';
import { acquireLock } from '../lock.js';
import type { Pipeline } from '../pipeline/model.js';
import { checkTargets, storeOf } from '../project.js';

export async function clean(p: Pipeline, targets: string[], onWait: (h: string) => void): Promise<string[]> {
  checkTargets(p, targets);
  const store = storeOf(p);
  const release = await acquireLock(store.dir, onWait);
  const removed: string[] = [];
  try {
    await store.open();
    for (const name of targets.length ? targets : [...p.targets.keys()]) {
      const st = await store.states.load(name);
      for (const [node, ns] of Object.entries(st.nodes)) {
        for (const rel of Object.keys(ns.out)) {
          await removeAndPrune(path.join(p.root, rel), path.join(p.root, p.settings.buildDir));
          removed.push(rel);
        }
        store.states.set(name, node, undefined);
      }
    }
    await store.save();
  } finally {
    await release();
  }
  return removed;
}
