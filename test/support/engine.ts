/** In-process builds with one target's kind replaced by a test kind (the engine, not the CLI). */
import * as path from 'node:path';
import { Build } from '../../src/engine/build.js';
import type { BuildSummary, EngineEvent } from '../../src/engine/events.js';
import { openPipeline, storeOf } from '../../src/project.js';
import type { MapKind } from '../../src/task-api.js';
import { builtinKinds } from '../../tasks/registry.js';

/** Builds `dir`'s pipeline.yaml with `target` run by `kind` (its params emptied). */
export async function buildWithKind(dir: string, target: string, kind: MapKind, signal?: AbortSignal): Promise<{ summary: BuildSummary; events: EngineEvent[] }> {
  const p = await openPipeline(builtinKinds, path.join(dir, 'pipeline.yaml'));
  const def = p.targets.get(target)!;
  (def as { kind: MapKind }).kind = kind;
  def.params = {};
  const store = storeOf(p);
  await store.open();
  const events: EngineEvent[] = [];
  const summary = await new Build(p, store, { onEvent: (e) => events.push(e), signal }).run();
  return { summary, events };
}
