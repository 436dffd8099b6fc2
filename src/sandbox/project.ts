/**
 * The sandbox of one project: a `BubblewrapSandbox` whose supervisor lives in the project's
 * `cache/sandbox` (src/folders.ts). The engine makes one per build unless it is given one
 * (`BuildOptions.sandbox`) and hands it to every task as `RunContext.sandbox`.
 *
 * The sandbox runs as an unprivileged uid, which must reach its folders. When every folder above
 * the project is searchable by others, the supervisor is kept in the project and programs run in
 * the tasks' temp folders; otherwise (a project under a 0700 home, such as /root) the supervisor
 * is kept in a private folder under the system temp dir and, as root, the run folders go there
 * too. The implementation is loaded on first use, so a build that runs no program does not load it.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { projectFolders } from '../folders.js';
import type { Sandbox } from './sandbox.js';

export function projectSandbox(root: string): Sandbox {
  let impl: Promise<Sandbox> | undefined;
  const get = (): Promise<Sandbox> => {
    impl ??= (async () => {
      const [{ BubblewrapSandbox }, reachable] = await Promise.all([import('./index.js'), reachableByOthers(root)]);
      const asRoot = process.getuid?.() === 0;
      return new BubblewrapSandbox({
        ...(reachable ? { helperDir: projectFolders(root).sandbox } : {}),
        ...(asRoot && !reachable ? { boxParent: path.join(os.tmpdir(), `asmgraph-boxes-${process.getuid?.() ?? 0}`) } : {}),
      });
    })();
    return impl;
  };
  return {
    identity: async (facts) => (await get()).identity(facts),
    run: async (req) => (await get()).run(req),
    box: async (fallback) => (await get()).box(fallback),
    check: async () => (await get()).check(),
  };
}

/** True when every folder from `dir` up to / can be traversed by other users. */
export async function reachableByOthers(dir: string): Promise<boolean> {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = await fsp.stat(d).catch(() => undefined);
    if (st && (st.mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}
