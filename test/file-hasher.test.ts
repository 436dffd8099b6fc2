/** The stat fast path and its racy-timestamp guard. */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileHasher } from '../src/store/file-hasher.js';
import { sha256 } from '../src/hash.js';

const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-hasher-'));
afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

describe('FileHasher', () => {
  it('answers an old, unchanged file from its stat without reading it', async () => {
    const f = path.join(dir, 'old.txt');
    await fsp.writeFile(f, 'one');
    const past = new Date(Date.now() - 3600_000);
    await fsp.utimes(f, past, past);
    const h = new FileHasher(path.join(dir, 'state-old.json'));
    await h.load();
    expect((await h.hash('old.txt', f)).hash).toBe(sha256('one'));
    await h.save();
    const again = new FileHasher(path.join(dir, 'state-old.json'));
    await again.load();
    const st = await fsp.stat(f);
    const r = await again.hash('old.txt', f, st);
    expect(r.hash).toBe(sha256('one'));
    expect(r.bytes).toBeUndefined();
    expect(again.hashed).toBe(0);
  });

  it('re-hashes a racily clean file: changed within the timestamp granularity of its last hash', async () => {
    const f = path.join(dir, 'racy.txt');
    await fsp.writeFile(f, 'aaaa');
    const h = new FileHasher(path.join(dir, 'state-racy.json'));
    await h.load();
    const st1 = await fsp.stat(f);
    expect((await h.hash('racy.txt', f, st1)).hash).toBe(sha256('aaaa'));
    await h.save();
    // Same size, and a stat identical to the recorded one (as when the edit lands in the same
    // clock tick): only the racy guard can notice.
    await fsp.writeFile(f, 'bbbb');
    const next = new FileHasher(path.join(dir, 'state-racy.json'));
    await next.load();
    const r = await next.hash('racy.txt', f, st1);
    expect(r.hash).toBe(sha256('bbbb'));
    expect(next.hashed).toBe(1);
  });

  it('notices a content change through size, mtime, ctime or inode', async () => {
    const f = path.join(dir, 'edit.txt');
    await fsp.writeFile(f, 'first');
    const past = new Date(Date.now() - 3600_000);
    await fsp.utimes(f, past, past);
    const h = new FileHasher(path.join(dir, 'state-edit.json'));
    await h.load();
    await h.hash('edit.txt', f);
    await fsp.writeFile(f, 'second!');
    expect((await h.hash('edit.txt', f)).hash).toBe(sha256('second!'));
    const tmp = path.join(dir, 'edit.tmp');
    await fsp.writeFile(tmp, 'third!!');
    await fsp.utimes(tmp, past, past);
    await fsp.rename(tmp, f); // atomic save: new inode, same size, old mtime
    expect((await h.hash('edit.txt', f)).hash).toBe(sha256('third!!'));
  });
});
