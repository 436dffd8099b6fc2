/**
 * `command`: any shell command, with declared inputs and outputs, so pipeline.yaml can
 * replace a Makefile for steps nobody foresaw. With `from`, it runs once per item; with
 * `per: all` (or no `from`) once for the whole collection(s).
 *
 * The command runs in bash in an empty temp folder. Inputs are staged read-only:
 *   per item:  $IN (the item's only or first file), $IN_<NAME> for each file, $ITEM (its key)
 *   per all:   $IN_DIR, a folder with <item key>/<file name> for every input item
 * Outputs: the command writes each declared output to $OUT_<NAME> ($OUT for the first).
 * A non-zero exit fails the build, or rejects the item with `onError: reject`.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { GeneratedItem, ItemView, JsonObject, MapInput, ReduceInput, RunContext, TaskResult } from '../src/task-api.js';
import type { MapKind, ReduceKind } from '../src/task-api.js';

interface CommandParams {
  run: string;
  outputs: Record<string, string>;
  env?: string[];
  per?: 'item' | 'all';
  onError?: 'fail' | 'reject';
  collect?: boolean;
}

const envName = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

export const commandKind: MapKind = {
  name: 'command',
  version: '1',
  mode: 'map',
  pool: 'cpu',
  description: 'Runs a shell command with declared inputs and outputs.',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['run', 'outputs'],
    properties: {
      run: { type: 'string', description: 'bash command; see $IN, $IN_<NAME>, $IN_DIR, $OUT, $OUT_<NAME>, $ITEM.' },
      outputs: {
        type: 'object',
        minProperties: 1,
        description: 'Output name → file extension (per item, e.g. ".txt") or file name (per all).',
        additionalProperties: { type: 'string' },
      },
      env: { type: 'array', items: { type: 'string' }, description: 'Environment variables passed through; their values enter the key (hashed).' },
      per: { enum: ['item', 'all'], description: 'Run per item of `from` (default) or once for all.' },
      onError: { enum: ['fail', 'reject'], description: 'A non-zero exit fails the build (default) or rejects the item.' },
      collect: {
        type: 'boolean',
        description: 'Per all only: every file the command writes into $ITEMS_DIR becomes an item of a new collection (key = file name without extension, file `src`), which other targets can fan out over.',
      },
    },
  },
  env: (params) => ((params as unknown as CommandParams).env ?? []),
  outputs: (params) => Object.entries((params as unknown as CommandParams).outputs).map(([name, v]) =>
    v.startsWith('.') ? { name, ext: v } : { name, ext: `.${v}`, file: v }),
  async run(input: MapInput, ctx: RunContext): Promise<TaskResult> {
    return runCommand(ctx, async (dir, env) => {
      const from = input.inputs.from;
      const names = Object.keys(from?.files ?? {});
      env.ITEM = input.item.key;
      for (const [inputName, view] of Object.entries(input.inputs)) {
        for (const [name, ref] of Object.entries(view.files)) {
          const p = await ctx.localPath(ref);
          env[inputName === 'from' ? `IN_${envName(name)}` : `IN_${envName(inputName)}_${envName(name)}`] = p;
        }
      }
      if (names.length) env.IN = await ctx.localPath(from.files[names[0]]);
      void dir;
    });
  },
};

/** The same kind when it runs once over whole collections. */
const { perAll: _unused, plan: _noPlan, ...shared } = commandKind;
const commandAllKind: ReduceKind = {
  ...shared,
  mode: 'reduce',
  producesItems: true,
  async run(input: ReduceInput, ctx: RunContext): Promise<TaskResult> {
    return runCommand(ctx, async (dir, env) => {
      const inDir = path.join(dir, 'in');
      await fsp.mkdir(inDir);
      for (const [inputName, views] of Object.entries(input.inputs)) {
        for (const v of views as ItemView[]) {
          if (v.status !== 'ok') continue;
          const d = path.join(inDir, Object.keys(input.inputs).length > 1 ? inputName : '', v.key);
          await fsp.mkdir(d, { recursive: true });
          for (const [name, ref] of Object.entries(v.files)) await fsp.symlink(await ctx.localPath(ref), path.join(d, name));
        }
      }
      env.IN_DIR = inDir;
    });
  },
};

async function runCommand(ctx: RunContext, stage: (dir: string, env: Record<string, string>) => Promise<void>): Promise<TaskResult> {
  const p = ctx.params as unknown as CommandParams;
  const dir = await ctx.tmpdir();
  const work = path.join(dir, 'work');
  const outDir = path.join(dir, 'out');
  await fsp.mkdir(work);
  await fsp.mkdir(outDir);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8' };
  for (const n of p.env ?? []) if (process.env[n] !== undefined) env[n] = process.env[n]!;
  await stage(dir, env);
  const outNames = Object.keys(p.outputs);
  for (const name of outNames) env[`OUT_${envName(name)}`] = path.join(outDir, name);
  const itemsDir = path.join(dir, 'items');
  if (p.collect) {
    await fsp.mkdir(itemsDir);
    env.ITEMS_DIR = itemsDir;
  }
  env.OUT = path.join(outDir, outNames[0]);
  const { $ } = await import('zx');
  // Its own process group, so that an interrupt kills the whole tree (zx kills descendants too),
  // not just bash while a grandchild keeps the pipes open. stdin is /dev/null (as in ninja): a
  // command that reads it gets end-of-file instead of waiting for the terminal.
  const running = $({ cwd: work, env, quiet: true, nothrow: true, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })`bash -c ${p.run}`;
  const onAbort = () => void running.kill('SIGKILL').catch(() => {});
  ctx.signal.addEventListener('abort', onAbort);
  if (ctx.signal.aborted) onAbort();
  const proc = await running.finally(() => ctx.signal.removeEventListener('abort', onAbort));
  if (proc.stdout) ctx.log(proc.stdout.trimEnd());
  if (proc.stderr) ctx.log(proc.stderr.trimEnd());
  if (proc.exitCode !== 0) {
    const message = `command exited with code ${proc.exitCode}: ${proc.stderr.trim().split('\n').slice(-5).join('\n')}`;
    if (p.onError === 'reject') return { status: 'rejected', reason: 'command-failed', message };
    throw new Error(message);
  }
  const files: Record<string, Buffer> = {};
  for (const name of outNames) {
    try {
      files[name] = await fsp.readFile(path.join(outDir, name));
    } catch {
      throw new Error(`the command did not write its output "${name}" ($OUT_${envName(name)})`);
    }
  }
  if (!p.collect) return { status: 'ok', files, meta: {} as JsonObject };
  const items: GeneratedItem[] = [];
  for (const name of (await fsp.readdir(itemsDir)).sort()) {
    items.push({ base: name.replace(/\.[^.]+$/, ''), files: { src: await fsp.readFile(path.join(itemsDir, name)) } });
  }
  return { status: 'ok', files, meta: { items: items.length }, items };
}

commandKind.perAll = commandAllKind;
