/**
 * The one place that knows where asmgraph keeps things under a project's root. Everything else
 * asks here: the store, the lock, the remembered pipeline checks, the sandbox's helper, the web
 * view's scratch space and the per-task resumable state all live under `cache/`.
 */
import * as path from 'node:path';

/** Top-level folder names no pipeline may write outputs into. */
export const RESERVED_FOLDERS: readonly string[] = ['cache', '.git', 'node_modules'];

export interface ProjectFolders {
  /** The project's root (the folder of pipeline.yaml). */
  readonly root: string;
  /** The store: blobs (`cas/`), action records (`ac/`), build state (`state/`), temp files (`tmp/`), the lock. */
  readonly cache: string;
  /** Pipeline texts that passed every check (see pipeline/load.ts). */
  readonly pipelineChecks: string;
  /** The sandbox's supervisor binary, where every user can run it. */
  readonly sandbox: string;
  /** Scratch space of `asmgraph serve`. */
  readonly serveTmp: string;
  /** Resumable per-task state (`RunContext.persistentDir`). */
  readonly resume: string;
}

export function projectFolders(root: string): ProjectFolders {
  const cache = path.join(root, 'cache');
  return {
    root,
    cache,
    pipelineChecks: path.join(cache, 'pipeline'),
    sandbox: path.join(cache, 'sandbox'),
    serveTmp: path.join(cache, 'serve', 'tmp'),
    resume: path.join(cache, 'resume'),
  };
}
