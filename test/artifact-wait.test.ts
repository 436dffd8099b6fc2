/**
 * RunContext.artifact, in process: a node that asks for an artifact another node is still
 * building gives its CPU slot back while it waits, so a third node runs meanwhile. At `-j 2` with
 * the artifact's builder waiting for that third node, the build finishes only if the slot is
 * handed back (before, it deadlocked); both askers get the one artifact, built once.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { MapKind } from '../src/task-api.js';
import { makeProject } from './support/cli.js';
import { buildWithKind } from './support/engine.js';

let dir = '';
afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

const PIPELINE = `version: 1
settings: { jobs: 2 }
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  shared:
    kind: command
    from: texts
    params: { run: 'true', outputs: { out: .txt } }
`;

it('a node waiting for an artifact being built gives its CPU slot to another node', async () => {
  dir = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'ask\n', 'src/b.txt': 'ask\n', 'src/c.txt': 'free\n' });
  const timeline: string[] = [];
  let builds = 0;
  let freeRan!: () => void;
  const free = new Promise<void>((resolve) => (freeRan = resolve));
  const kind: MapKind = {
    name: 'asking', version: '1', mode: 'map', pool: 'cpu', description: 'test', paramsSchema: { type: 'object' },
    outputs: () => [{ name: 'out', ext: '.txt' }],
    async run(input, ctx) {
      const text = (await ctx.read(Object.values(input.inputs.from!.files)[0]!)).toString('utf8').trim();
      if (text === 'free') {
        timeline.push('free node ran');
        freeRan();
        return { status: 'ok', files: { out: 'free\n' } };
      }
      timeline.push('asked');
      const art = await ctx.artifact('shared-thing', { v: 1 }, async (d) => {
        builds++;
        // Finishes only once the third node has had a slot: both slots are taken by askers.
        await free;
        timeline.push('artifact built');
        await fsp.writeFile(path.join(d, 'x'), 'built\n');
        return { files: ['x'] };
      });
      return { status: 'ok', files: { out: await fsp.readFile(art.paths.x!, 'utf8') } };
    },
  };
  const { summary: s, events } = await buildWithKind(dir, 'shared', kind);

  expect(s.ok, JSON.stringify(s.failed)).toBe(true);
  expect(builds).toBe(1);
  // Both askers were in their slots before the free node ran: the second gave its slot back.
  expect(timeline).toEqual(['asked', 'asked', 'free node ran', 'artifact built']);
  for (const item of ['a', 'b']) expect(await fsp.readFile(path.join(dir, `build/shared/${item}.txt`), 'utf8')).toBe('built\n');
  expect(events.filter((e) => e.type === 'node-done' && e.target === 'shared-thing')).toHaveLength(1);
});
