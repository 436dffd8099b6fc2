/**
 * RunContext.gather, in process: the engine joins the nodes of a target that call it into one
 * flush, whatever order they reach it in; nodes that finish without calling it do not hold it up;
 * waiting nodes give their pool slots back (more nodes than llmConcurrency still gather into one
 * round); an interrupted build flushes nothing that was still waiting.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../src/engine/events.js';
import type { MapKind } from '../src/task-api.js';
import { makeProject } from './support/cli.js';
import { buildWithKind } from './support/engine.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** `asked` is declared as a command target, then given the kind under test. */
const PIPELINE = (llm: number) => `version: 1
settings: { llmConcurrency: ${llm}, jobs: 2 }
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  up:
    kind: command
    from: texts
    params:
      run: case "$(cat "$IN")" in *slow*) sleep 0.3;; esac; cp "$IN" "$OUT"
      outputs: { out: .txt }
  asked:
    kind: command
    from: up
    params: { run: 'true', outputs: { out: .txt } }
`;

function gathering(
  flushes: string[][],
  behave: (text: string, ctx: Parameters<MapKind['run']>[1]) => Promise<void> = async () => {},
  gathered: () => void = () => {},
): MapKind {
  return {
    name: 'gathering', version: '1', mode: 'map', pool: 'llm', description: 'test', paramsSchema: { type: 'object' },
    outputs: () => [{ name: 'out', ext: '.txt' }],
    async run(input, ctx) {
      const text = (await ctx.read(input.inputs.from!.files.out!)).toString('utf8').trim();
      if (text.includes('skip')) return { status: 'ok', files: { out: 'not asked\n' } };
      await behave(text, ctx);
      const waiting = ctx.gather<string, string>('g', text, async (values) => {
        flushes.push([...values].sort());
        return values.map((v) => v.toUpperCase());
      });
      gathered();
      const answer = await waiting;
      return { status: 'ok', files: { out: `${answer}\n` } };
    },
  };
}

async function build(dir: string, kind: MapKind, signal?: AbortSignal): Promise<{ ok: boolean; interrupted: boolean; events: EngineEvent[] }> {
  const { summary: s, events } = await buildWithKind(dir, 'asked', kind, signal);
  return { ok: s.ok, interrupted: s.interrupted, events };
}

async function project(llm: number, texts: Record<string, string>): Promise<string> {
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE(llm) };
  for (const [k, v] of Object.entries(texts)) files[`src/${k}.txt`] = `${v}\n`;
  const d = await makeProject(files);
  dirs.push(d);
  return d;
}

describe('gather', () => {
  it('one flush for every node of the target that gathers, with one llm slot for six nodes; the others do not hold it up', async () => {
    const dir = await project(1, { a: 'alpha', b: 'beta slow', c: 'skip me', d: 'delta', e: 'skip too', f: 'phi slow' });
    const flushes: string[][] = [];
    const r = await build(dir, gathering(flushes));
    expect(r.ok).toBe(true);
    expect(flushes).toEqual([['alpha', 'beta slow', 'delta', 'phi slow']]);
    expect(await fsp.readFile(path.join(dir, 'build/asked/b.txt'), 'utf8')).toBe('BETA SLOW\n');
    expect(await fsp.readFile(path.join(dir, 'build/asked/c.txt'), 'utf8')).toBe('not asked\n');

    // Cached nodes do not gather: a new item is a round of its own.
    await fsp.writeFile(path.join(dir, 'src/g.txt'), 'gamma\n');
    const again = await build(dir, gathering(flushes));
    expect(again.ok).toBe(true);
    expect(flushes).toEqual([['alpha', 'beta slow', 'delta', 'phi slow'], ['gamma']]);
  }, 60_000);

  it('an interrupted build flushes nothing that was still waiting', async () => {
    const dir = await project(2, { a: 'alpha', b: 'block' });
    const flushes: string[][] = [];
    const ac = new AbortController();
    // Interrupted once a waits in the round and b, which would join it, is still busy.
    let ready = 0;
    const step = () => {
      if (++ready === 2) ac.abort();
    };
    const r = await build(dir, gathering(flushes, async (text, ctx) => {
      if (text !== 'block') return;
      step();
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }, step), ac.signal);
    expect(ready).toBeGreaterThanOrEqual(2);
    expect(r.interrupted).toBe(true);
    expect(flushes).toEqual([]);
  }, 60_000);
});
