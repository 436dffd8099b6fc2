/** `asmgraph [build] [targets...]`: bring the requested targets up to date. */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Build, type BuildOptions } from '../engine/build.js';
import { UsageError } from '../pipeline/diagnostics.js';
import type { BuildSummary, Listener } from '../engine/events.js';
import { acquireLock } from '../lock.js';
import type { Pipeline } from '../pipeline/model.js';
import { checkTargets, storeOf } from '../project.js';
import { openRemote, remoteReport, remoteUrlOf, shardReport, type RemoteFlags } from './remote.js';

export interface BuildCommandOptions extends Omit<BuildOptions, 'onEvent' | 'targets'>, RemoteFlags {
  targets: string[];
}

async function checkWritable(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true });
    await fsp.access(dir, fsConstants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'read-only file system' : code === 'EACCES' ? 'permission denied' : code;
    throw new UsageError(`cannot write outputs to ${path.relative(process.cwd(), dir) || dir}/: ${why}; nothing was built and existing outputs are untouched`);
  }
}

/** Passes of one build at most, when each meets damage in the cache (see runBuild). */
const MAX_PASSES = 32;

export async function runBuild(p: Pipeline, opts: BuildCommandOptions, listener: Listener): Promise<BuildSummary> {
  checkTargets(p, opts.targets);
  const store = storeOf(p);
  const remoteUrl = remoteUrlOf(p, opts);
  let release: (() => Promise<void>) | undefined;
  let remote: ReturnType<typeof openRemote> | undefined;
  if (!opts.dryRun) {
    release = await acquireLock(store.dir, (holder) => listener({ type: 'lock-wait', holder }), opts.signal);
  }
  try {
    await store.open({ clearTemp: !opts.dryRun });
    remote = remoteUrl ? openRemote(remoteUrl, store, opts, listener) : undefined;
    if (opts.shard) listener(shardReport(opts.shard));
    if (!opts.dryRun) await checkWritable(path.join(p.root, p.settings.buildDir));
    // A pass that met a corrupt or missing cache entry invalidates what named it (and the read
    // removed the bad blob); the next pass rebuilds it (corrupt entries are never served). A pass
    // stops at its first such failure, so damage along one chain is met one entry per pass: every
    // retry removes at least one bad entry, and the cap is only a safety net.
    for (let pass = 0; ; pass++) {
      const build = new Build(p, store, { ...opts, onEvent: listener, checkSources: pass > 0, blobs: remote?.blobs, actions: remote?.actions });
      const summary = await build.run();
      if (!build.retryNeeded || summary.interrupted) return summary;
      if (pass >= MAX_PASSES - 1) {
        listener({ type: 'build-done', summary });
        return summary;
      }
    }
  } finally {
    if (remote) listener(remoteReport(remote));
    await release?.();
  }
}
