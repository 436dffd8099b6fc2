/** The remote cache of one build, from `--remote-cache`/`settings.remoteCache` and the environment. */
import type { EngineEvent, Listener } from '../engine/events.js';
import type { Shard } from '../engine/shard.js';
import { UsageError } from '../pipeline/diagnostics.js';
import type { Pipeline } from '../pipeline/model.js';
import type { Store } from '../store/index.js';
import { RemoteLayer } from '../store/layered.js';
import { checkRemoteUrl, HttpCache } from '../store/remote-http.js';

export interface RemoteFlags {
  /** `--remote-cache URL` (overrides settings.remoteCache). */
  remoteCache?: string;
  /** `--remote-read-only`: download, never upload. */
  remoteReadOnly?: boolean;
}

/** The URL to use, checked (a UsageError when it is not acceptable); undefined without one. */
export function remoteUrlOf(p: Pipeline, o: RemoteFlags): string | undefined {
  if (o.remoteCache !== undefined) return checkRemoteUrl(o.remoteCache);
  if (p.settings.remoteCache) return checkRemoteUrl(p.settings.remoteCache, 'settings.remoteCache');
  return undefined;
}

/** ASMGRAPH_REMOTE_TIMEOUT_MS: per request, default 30 s (a bad value is a usage error). */
function timeoutOf(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`ASMGRAPH_REMOTE_TIMEOUT_MS=${v}: expected a whole number of milliseconds ≥ 1`);
  return n;
}

export function openRemote(url: string, store: Store, o: RemoteFlags & { dryRun?: boolean }, listener: Listener): RemoteLayer {
  const warn = (message: string) => listener({ type: 'warning', message });
  // Read here and kept in the client only: never printed, logged, put in a key or written down.
  const token = process.env.ASMGRAPH_REMOTE_TOKEN || undefined;
  const remote = new HttpCache(url, { token, onUnavailable: warn, timeoutMs: timeoutOf(process.env.ASMGRAPH_REMOTE_TIMEOUT_MS) });
  return new RemoteLayer({ blobs: store.blobs, actions: store.actions }, remote, { readOnly: o.remoteReadOnly, dryRun: o.dryRun, onWarning: warn });
}

/** The line after a build that used a remote cache: what came down, what went up. */
export function remoteReport(layer: RemoteLayer): EngineEvent {
  const s = layer.stats;
  const state = !layer.remote.available ? ' (unavailable since it failed; see the warning)' : layer.remote.uploadsRefused ? ' (the server refused uploads; see the warning)' : '';
  const up = layer.opts.readOnly ? 'read-only, nothing uploaded' : layer.opts.dryRun ? 'dry run, nothing stored or uploaded' : `${s.uploadedRecords} results uploaded (${s.uploadedBlobs} new blobs)`;
  return {
    type: 'report', target: 'remote-cache',
    lines: [`remote cache: ${s.downloadedRecords} results downloaded, ${up}${s.rejectedEntries ? `, ${s.rejectedEntries} bad entries refused` : ''}${state}`],
  };
}

/** The line before a shard's build: which part of the work it does. */
export function shardReport(shard: Shard): EngineEvent {
  const from = shard.source === 'flag' ? '' : ` (from ${shard.source})`;
  return {
    type: 'report', target: 'shard',
    lines: [`shard ${shard.index}/${shard.count}${from}: this shard's per-item work only; aggregates and model calls are left to an unsharded gather run`],
  };
}
