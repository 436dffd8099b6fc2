/** The remote cache of one build, from `--remote-cache`/`settings.remoteCache` and the environment. */
import type { Listener } from '../engine/events.js';
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

export function openRemote(url: string, store: Store, o: RemoteFlags & { dryRun?: boolean }, listener: Listener): RemoteLayer {
  const warn = (message: string) => listener({ type: 'warning', message });
  // Read here and kept in the client only: never printed, logged, put in a key or written down.
  const token = process.env.ASMGRAPH_REMOTE_TOKEN || undefined;
  const remote = new HttpCache(url, { token, onUnavailable: warn });
  return new RemoteLayer({ blobs: store.blobs, actions: store.actions }, remote, { readOnly: o.remoteReadOnly, dryRun: o.dryRun, onWarning: warn });
}
