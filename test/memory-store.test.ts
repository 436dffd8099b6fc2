/**
 * The engine in process against the in-memory store: results, rejections and records go through
 * the BlobStore / ActionCache interfaces only (nothing lands in cache/cas or cache/ac), tasks that
 * need a file path get one materialized from memory, and a later build restores everything from
 * the memory store without running a command.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Build } from '../src/engine/build.js';
import type { EngineEvent } from '../src/engine/events.js';
import { builtinKinds } from '../tasks/registry.js';
import { openPipeline, storeOf } from '../src/project.js';
import { MemoryActionCache, MemoryBlobStore } from '../src/store/memory.js';
import { makeProject } from './support/cli.js';
import { listTree } from './support/nginx.js';
import { REJECTING } from './support/pipelines.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function buildOnce(dir: string, blobs: MemoryBlobStore, actions: MemoryActionCache, dryRun = false): Promise<{ events: EngineEvent[]; ok: boolean }> {
  const p = await openPipeline(builtinKinds, path.join(dir, 'pipeline.yaml'));
  const store = storeOf(p);
  await store.open({ clearTemp: !dryRun });
  const events: EngineEvent[] = [];
  const summary = await new Build(p, store, { blobs, actions, dryRun, onEvent: (e) => events.push(e) }).run();
  return { events, ok: summary.ok };
}

function byOutcome(events: EngineEvent[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of events) if (e.type === 'node-done') (out[e.outcome] ??= []).push(e.id);
  for (const v of Object.values(out)) v.sort();
  return out;
}

describe('the engine against the memory store', () => {
  it('builds, rejects and restores through the interfaces only', async () => {
    const dir = await makeProject({ 'pipeline.yaml': REJECTING, 'src/a.txt': 'good\n', 'src/b.txt': 'bad\n' });
    dirs.push(dir);
    const blobs = new MemoryBlobStore(path.join(dir, 'cache', 'tmp', 'memory-files'));
    const actions = new MemoryActionCache();

    const first = await buildOnce(dir, blobs, actions);
    expect(first.ok).toBe(true);
    expect(byOutcome(first.events).executed).toEqual(['checked/a', 'checked/b', 'joined', 'upper/a']);
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('GOOD\n');
    expect(await fsp.readFile(path.join(dir, 'build/list.txt'), 'utf8')).toBe('a\n');
    expect(await fsp.readFile(path.join(dir, 'build/checked/b.rejected.txt'), 'utf8')).toContain('found bad word');
    // Everything went to memory: no blob or record on disk, 4 records (the rejection included).
    expect(await listTree(path.join(dir, 'cache', 'cas'))).toEqual([]);
    expect(await listTree(path.join(dir, 'cache', 'ac'))).toEqual([]);
    expect(actions.records.size).toBe(4);
    const rejected = [...actions.records.values()].map((t) => JSON.parse(t).record).find((r) => r.target === 'checked' && r.status === 'rejected');
    expect(rejected?.reason).toBeTruthy();

    // Outputs and build state gone: every node comes back from the memory store, none runs.
    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    await fsp.rm(path.join(dir, 'cache', 'state'), { recursive: true });
    const second = await buildOnce(dir, blobs, actions);
    expect(second.ok).toBe(true);
    expect(byOutcome(second.events)).toEqual({ cached: ['checked/a', 'checked/b', 'joined', 'upper/a'], propagated: ['upper/b'] });
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('GOOD\n');
    expect(await fsp.readFile(path.join(dir, 'build/list.txt'), 'utf8')).toBe('a\n');

    // A damaged blob in memory is never served: the node that made it runs again.
    const ref = JSON.parse([...actions.records.values()].find((t) => JSON.parse(t).record.target === 'upper')!).record.files.out;
    blobs.blobs.set(ref.hash, Buffer.from('EVIL\n'));
    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    await fsp.rm(path.join(dir, 'cache', 'state'), { recursive: true });
    const third = await buildOnce(dir, blobs, actions);
    expect(byOutcome(third.events).executed).toEqual(['upper/a']);
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('GOOD\n');
    await blobs.close();
  }, 60_000);

  it('the dry-run runner decides the same way and writes nothing: no blob, no record, no output, no state', async () => {
    const dir = await makeProject({ 'pipeline.yaml': REJECTING, 'src/a.txt': 'good\n', 'src/b.txt': 'bad\n' });
    dirs.push(dir);
    const blobs = new MemoryBlobStore(path.join(dir, 'cache', 'tmp', 'memory-files'));
    const actions = new MemoryActionCache();
    expect((await buildOnce(dir, blobs, actions)).ok).toBe(true);
    await fsp.writeFile(path.join(dir, 'src/a.txt'), 'better\n');
    const snapshot = async () => ({
      blobs: [...blobs.blobs.keys()].sort(), records: [...actions.records.keys()].sort(),
      build: await listTree(path.join(dir, 'build')), state: await listTree(path.join(dir, 'cache', 'state', 'targets')),
      upper: await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8'),
    });
    const before = await snapshot();
    const dry = await buildOnce(dir, blobs, actions, true);
    expect(byOutcome(dry.events)).toEqual({ 'would-run': ['checked/a', 'joined', 'upper/a'], 'up-to-date': ['checked/b'], propagated: ['upper/b'] });
    expect(await snapshot()).toEqual(before);
    // The real build then does what the dry run said.
    const real = await buildOnce(dir, blobs, actions);
    expect(byOutcome(real.events)).toEqual({ executed: ['checked/a', 'joined', 'upper/a'], 'up-to-date': ['checked/b'], propagated: ['upper/b'] });
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('BETTER\n');
    await blobs.close();
  }, 60_000);
});
