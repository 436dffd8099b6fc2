/** Handing the work dir to the sandbox uid and back, without ever following symlinks. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/**
 * lchown `root` and everything below it. Only called while no sandboxed process is alive, so a
 * hostile program cannot race it; symlinks are re-owned themselves and never followed, and a
 * bind mount cannot be hard-linked across (EXDEV), so nothing outside `root` is touched.
 */
export async function chownTree(root: string, uid: number, gid: number): Promise<void> {
  await fs.lchown(root, uid, gid);
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch {
    return;
  }
  await Promise.all(
    entries.map(async (e) => {
      const p = path.join(root, e.name);
      if (e.isDirectory()) await chownTree(p, uid, gid);
      else await fs.lchown(p, uid, gid).catch(() => undefined);
    }),
  );
}
