/** `asmgraph [build] [targets...]`: bring the requested targets up to date. */
import { Build } from '../engine/build.js';
import type { BuildSummary, Listener } from '../engine/events.js';
import { acquireLock } from '../lock.js';
import type { Pipeline } from '../pipeline/model.js';
import type { RunFlags } from '../task-api.js';
import { checkTargets, storeOf } from '../project.js';

export interface BuildCommandOptions {
  targets: string[];
  jobs?: number;
  keepGoing?: boolean;
  dryRun?: boolean;
  explain?: boolean;
  force?: boolean;
  signal?: AbortSignal;
  flags?: RunFlags;
}

export async function runBuild(p: Pipeline, opts: BuildCommandOptions, listener: Listener): Promise<BuildSummary> {
  checkTargets(p, opts.targets);
  const store = storeOf(p);
  let release: (() => Promise<void>) | undefined;
  if (!opts.dryRun) {
    release = await acquireLock(store.dir, (holder) => listener({ type: 'lock-wait', holder }), opts.signal);
  }
  try {
    await store.open({ clearTemp: !opts.dryRun });
    const build = new Build(p, store, { ...opts, onEvent: listener });
    return await build.run();
  } finally {
    await release?.();
  }
}
