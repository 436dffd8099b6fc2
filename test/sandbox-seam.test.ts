/**
 * The Sandbox seam: a BubblewrapSandbox keeps what it builds in the folders it is given (two
 * sandboxes share nothing), hands out run folders under its box parent, and the engine gives
 * tasks the sandbox of `BuildOptions.sandbox` as `RunContext.sandbox`. Real bwrap, real g++.
 */
import { promises as fsp, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Build } from '../src/engine/build.js';
import type { EngineEvent } from '../src/engine/events.js';
import { openPipeline, storeOf } from '../src/project.js';
import { builtinKinds } from '../tasks/registry.js';
import { BubblewrapSandbox } from '../src/sandbox/index.js';
import type { Sandbox, SandboxRequest } from '../src/sandbox/sandbox.js';
import { makeProject, toolchainFiles } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** A folder the sandbox uid can reach (mkdtemp makes 0700 folders). */
async function reachableTemp(prefix: string): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  await fsp.chmod(d, 0o755);
  dirs.push(d);
  return d;
}

describe('BubblewrapSandbox', () => {
  it('builds its supervisor and clock shim into its own helper folder; two sandboxes share nothing', async () => {
    const a = path.join(await reachableTemp('asmgraph-seam-a-'), 'helper');
    const b = path.join(await reachableTemp('asmgraph-seam-b-'), 'helper');
    const sa = new BubblewrapSandbox({ helperDir: a });
    const sb = new BubblewrapSandbox({ helperDir: b });
    const run = async (s: Sandbox, req: Partial<SandboxRequest> = {}) => {
      const box = await s.box(() => reachableTemp('asmgraph-seam-box-'));
      try {
        return await s.run({ argv: ['/bin/sh', '-c', 'echo hi; date +%Y'], dir: box.dir, limits: { wallMs: 10_000 }, ...req });
      } finally {
        await box.release();
      }
    };
    const r = await run(sa);
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.stdout.toString().split('\n')[0]).toBe('hi');
    expect(readdirSync(a).filter((f) => f.startsWith('sandbox-exec-'))).toHaveLength(1);
    expect(readdirSync(a).some((f) => f.startsWith('clock-shim-'))).toBe(false);
    // b has not run anything yet: nothing of a's reached it.
    expect(await fsp.readdir(b).catch(() => [])).toEqual([]);
    const faked = await run(sb, { faketime: '2001-02-03 04:05:06', clockStep: { wallSeconds: 1, cpuNanoseconds: 1000 } });
    expect(faked.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(faked.stdout.toString()).toBe('hi\n2001\n');
    expect(readdirSync(b).filter((f) => f.startsWith('sandbox-exec-'))).toHaveLength(1);
    expect(readdirSync(b).filter((f) => f.startsWith('clock-shim-'))).toHaveLength(1);
    expect(readdirSync(a).some((f) => f.startsWith('clock-shim-'))).toBe(false);
    // Same mechanism, same identity, whatever the folders.
    expect(await sa.identity()).toEqual(await sb.identity());
  }, 60_000);

  it('makes run folders under its box parent and removes them; without one it uses the fallback', async () => {
    const parent = path.join(await reachableTemp('asmgraph-seam-boxes-'), 'boxes');
    const s = new BubblewrapSandbox({ boxParent: parent });
    const box = await s.box(() => Promise.reject(new Error('not used')));
    expect(path.dirname(box.dir)).toBe(parent);
    expect((await fsp.stat(parent)).mode & 0o777).toBe(0o711);
    expect(await fsp.readdir(box.dir)).toEqual([]);
    await box.release();
    expect(await fsp.readdir(parent)).toEqual([]);

    const fallback = await reachableTemp('asmgraph-seam-fallback-');
    const own = await new BubblewrapSandbox().box(async () => fallback);
    expect(own.dir).toBe(fallback);
    await own.release();
    expect((await fsp.stat(fallback)).isDirectory()).toBe(true);
  });
});

describe('RunContext.sandbox', () => {
  it('is the sandbox of BuildOptions.sandbox: validate runs every program through it', async () => {
    const dir = await makeProject({
      ...(await toolchainFiles()),
      'pipeline.yaml': `version: 1
default: [validated]
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm: { kind: compile, from: programs }
  validated: { kind: validate, from: asm, with: { source: programs }, params: { nondeterminism: false } }
`,
      'src/hello.cpp': '#include <cstdio>\nint main() { std::puts("hello"); }\n',
    });
    dirs.push(dir);
    await fsp.chmod(dir, 0o755);
    const helperDir = path.join(await reachableTemp('asmgraph-seam-helper-'), 'helper');
    const real = new BubblewrapSandbox({ helperDir });
    const argvs: string[][] = [];
    const counting: Sandbox = {
      identity: () => real.identity(),
      run: (req) => {
        argvs.push(req.argv);
        return real.run(req);
      },
      box: (fallback) => real.box(fallback),
      check: () => real.check(),
    };
    const p = await openPipeline(builtinKinds, path.join(dir, 'pipeline.yaml'));
    const store = storeOf(p);
    await store.open();
    const events: EngineEvent[] = [];
    const summary = await new Build(p, store, { sandbox: counting, onEvent: (e) => events.push(e) }).run();
    expect(summary.ok).toBe(true);
    const done = events.find((e) => e.type === 'node-done' && e.id === 'validated/hello');
    expect(done && done.type === 'node-done' ? done.status : undefined).toBe('ok');
    // The reference run, through the given sandbox (the candidate is compile's own -S output for
    // these flags, so it shares that run).
    expect(argvs).toEqual([['./prog']]);
    expect(readdirSync(helperDir).some((f) => f.startsWith('sandbox-exec-'))).toBe(true);
    // The project's own sandbox was never made: nothing in cache/sandbox.
    expect(await fsp.readdir(path.join(dir, 'cache', 'sandbox')).catch(() => [])).toEqual([]);
  }, 120_000);
});
