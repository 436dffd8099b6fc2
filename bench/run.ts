/**
 * `npm run bench`: one run that measures asmgraph side by side with make and ninja on this
 * machine, and writes bench/results.md + bench/results.json.
 *
 *   node dist/bench/run.js [--quick] [--out DIR] [--only s1,s2] [--keep] [--seed N]
 *   node dist/bench/run.js --remote [--programs N] [--quick] [--out DIR]   (sharded build, bench/remote.ts)
 *   BENCH_SCALE=0.1 node dist/bench/run.js      (scales program / item / byte counts)
 *   BENCH_CXX_SCALE=0.25 node dist/bench/run.js (scales only the C++ program counts)
 *
 * Sections (keys in results.json): coldDefault (the headline), workloads, coldSmall, coldLarge, coldCorpus, noop, edit,
 * restore, watch, rss, hash. Every section is always present in the results: either measured,
 * or with `status: "not measured: <reason>"` / `"skipped: <reason>"`.
 * See bench/NOTES.md for method, caveats and profile findings.
 */
import { createInterface } from 'node:readline';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { FileHasher } from '../src/store/file-hasher.js';
import { sha256 } from '../src/hash.js';
import { generatePrograms, generateSmallFiles, HEADERS, type Program } from './gen-programs.js';
import { sandboxOverheadSection } from './sandbox-overhead.js';
import { measureYield, renderYield, type YieldCorpus } from './yield.js';
import { copyMakefile, copyNinja, copyPipeline, CXXFLAGS, writeCxxPeer, writeCxxProject, writeSeedPeer } from './peers.js';
import {
  fmtMs, fmtRatio, fmtStat, HAVE_GNU_TIME, lastEvent, log, machineInfo, percentile, stat, timed,
  type MachineInfo, type Stat, type Timed,
} from './util.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench → repo root. */
export const REPO = path.resolve(HERE, '..', '..');
/** What `npm run build-graph` runs (scripts/bundle.mjs): every asmgraph run below uses it. */
const CLI = path.join(REPO, 'dist', 'bundle', 'cli.js');
/** tsc's output, unbundled: only the no-op comparison runs it. */
const TSC_CLI = path.join(REPO, 'dist', 'src', 'cli.js');

// ------------------------------------------------------------------ configuration

export interface Config {
  mode: 'full' | 'quick';
  scale: number;
  /** Extra factor on C++ program counts only (BENCH_CXX_SCALE). */
  cxxScale: number;
  seed: number;
  jobs: number;
  /** Programs in the "small" C++ project (cold builds, one-file edit). */
  small: number;
  smallRuns: number;
  /** Runs of the default-parameter (nondeterminism: true) variant of ours. */
  defaultRuns: number;
  /** Cold pairs of the headline (the default pipeline against make running the seed's commands). */
  defaultPairs: number;
  /** Programs in the "large" C++ project (0 = skip). */
  large: number;
  largeRuns: number;
  /** Also build the bundled corpus (sources/*.cpp) cold, once per tool. */
  corpus: boolean;
  items: number;
  dryItems: number;
  runs: number;
  editRuns: number;
  watchPrograms: number;
  watchEdits: number;
  hashMB: number;
}

function configFrom(argv: string[], env: NodeJS.ProcessEnv): { cfg: Config; out: string; only?: Set<string>; keep: boolean } {
  const quick = argv.includes('--quick');
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const scale = Number(env.BENCH_SCALE ?? '1');
  if (!(scale > 0)) throw new Error(`BENCH_SCALE must be a positive number, got ${env.BENCH_SCALE}`);
  const s = (n: number, min: number) => Math.max(min, Math.round(n * scale));
  // C++ program counts can be scaled on their own (they dominate the wall time on small machines).
  const cxxScale = Number(env.BENCH_CXX_SCALE ?? '1');
  if (!(cxxScale > 0)) throw new Error(`BENCH_CXX_SCALE must be a positive number, got ${env.BENCH_CXX_SCALE}`);
  const sc = (n: number, min: number) => Math.max(min, Math.round(n * scale * cxxScale));
  const base = quick
    ? { small: 10, smallRuns: 1, defaultRuns: 1, large: 0, largeRuns: 1, corpus: false, items: 200, dryItems: 1000, runs: 3, editRuns: 1, watchPrograms: 3, watchEdits: 5, hashMB: 16 }
    : { small: 200, smallRuns: 5, defaultRuns: 1, large: 2000, largeRuns: 1, corpus: true, items: 10_000, dryItems: 100_000, runs: 5, editRuns: 5, watchPrograms: 10, watchEdits: 50, hashMB: 256 };
  const cfg: Config = {
    mode: quick ? 'quick' : 'full',
    scale,
    seed: Number(arg('--seed') ?? 1),
    jobs: os.availableParallelism(),
    cxxScale,
    small: sc(base.small, 2),
    smallRuns: Number(arg('--runs') ?? base.smallRuns),
    defaultRuns: base.defaultRuns,
    defaultPairs: Number(arg('--default-pairs') ?? (quick ? 1 : 3)),
    large: base.large ? sc(base.large, 2) : 0,
    largeRuns: base.largeRuns,
    corpus: base.corpus && !argv.includes('--no-corpus'),
    items: s(base.items, 20),
    dryItems: s(base.dryItems, 50),
    runs: Number(arg('--runs') ?? base.runs),
    editRuns: Number(arg('--runs') ?? base.editRuns),
    watchPrograms: base.watchPrograms,
    watchEdits: Number(arg('--watch-edits') ?? base.watchEdits),
    hashMB: s(base.hashMB, 4),
  };
  if (argv.includes('--no-large')) cfg.large = 0;
  const only = arg('--only') ? new Set(arg('--only')!.split(',')) : undefined;
  return { cfg, out: path.resolve(arg('--out') ?? path.join(REPO, 'bench')), only, keep: argv.includes('--keep') };
}

// ------------------------------------------------------------------ results model

export const SECTION_TITLES: Record<string, string> = {
  coldDefault: '0. Headline: the default pipeline, cold, against make running the seed\'s commands',
  workloads: '1. Workloads (generated programs, command pipelines)',
  coldSmall: '2a. Cold full build (compile + validate), small project',
  coldLarge: '2b. Cold full build (compile + validate), large project',
  coldCorpus: '2c. Cold full build (compile + validate), bundled corpus',
  noop: '3. No-op rebuild, cheap command pipeline',
  edit: '4. One-file edit, incremental rebuild',
  restore: '5. Restore from cache after rm -rf build/',
  watch: '6. Watch latency',
  rss: '7. Peak RSS',
  hash: '8. Hashing throughput',
  sandbox: '9. Sandbox overhead per program run',
  yield: '10. Yield: programs → validated → examples, before and after variants, model limits and cleaning',
};

type Section = { title: string; status: string; [k: string]: unknown };

interface Results {
  machine: MachineInfo;
  config: Config;
  startedAt: string;
  totalMs?: number;
  sections: Record<string, Section>;
}

// ------------------------------------------------------------------ asmgraph runs

interface OursRun extends Timed {
  summary: Record<string, any>;
  events: Record<string, any>[];
}

async function ours(cwd: string, args: string[], o: { rss?: boolean; keepEvents?: boolean } = {}): Promise<OursRun> {
  const r = await timed(process.execPath, [CLI, '--json', ...args], { cwd, rss: o.rss, check: false, tailStdout: o.keepEvents ? 256 << 20 : 1 << 20 });
  const summary = lastEvent(r.stdout, 'build-done')?.summary;
  if (!summary) throw new Error(`asmgraph ${args.join(' ')} in ${cwd}: no build-done event (exit ${r.code})\n${r.stderr.slice(-3000)}`);
  const events = o.keepEvents
    ? r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) as Record<string, any>; } catch { return {}; } })
    : [];
  return { ...r, summary, events };
}

function countStatus(events: Record<string, any>[], target: string): { ok: number; rejected: Record<string, number> } {
  let ok = 0;
  const rejected: Record<string, number> = {};
  for (const e of events) {
    if (e.type !== 'node-done' || e.target !== target || !String(e.id).includes('/')) continue;
    if (e.status === 'ok') ok++;
    else rejected[e.reason ?? e.status] = (rejected[e.reason ?? e.status] ?? 0) + 1;
  }
  return { ok, rejected };
}

async function rmrf(...ps: string[]): Promise<void> {
  for (const p of ps) await fsp.rm(p, { recursive: true, force: true });
}

async function countOk(peerDir: string): Promise<number> {
  let n = 0;
  for (const d of await fsp.readdir(path.join(peerDir, 'w')).catch(() => [] as string[])) if (existsSync(path.join(peerDir, 'w', d, 'ok'))) n++;
  return n;
}

/** Compares ours build/asm/P.s with the peer's w/P/prog.s, byte for byte. */
async function compareAsm(oursDir: string, peerDir: string, names: string[]): Promise<{ identical: number; differ: string[]; missing: string[] }> {
  let identical = 0;
  const differ: string[] = [];
  const missing: string[] = [];
  for (const n of names) {
    const a = await fsp.readFile(path.join(oursDir, 'build', 'asm', `${n}.s`)).catch(() => undefined);
    const b = await fsp.readFile(path.join(peerDir, 'w', n, 'prog.s')).catch(() => undefined);
    if (!a || !b) missing.push(n);
    else if (a.equals(b)) identical++;
    else differ.push(n);
  }
  return { identical, differ, missing };
}

// ------------------------------------------------------------------ sections

interface CxxSetup {
  label: string;
  programs: { name: string; source: string }[];
  oursNf: string;
  oursDef: string;
  make: string;
  ninja: string;
}

async function setupCxx(work: string, label: string, programs: { name: string; source: string }[], withDefault: boolean): Promise<CxxSetup> {
  const root = path.join(work, label);
  const s: CxxSetup = {
    label, programs,
    oursNf: path.join(root, 'ours'),
    oursDef: path.join(root, 'ours-default'),
    make: path.join(root, 'make'),
    ninja: path.join(root, 'ninja'),
  };
  await writeCxxProject(s.oursNf, REPO, programs, { nondeterminism: false });
  if (withDefault) await writeCxxProject(s.oursDef, REPO, programs, {});
  await writeCxxPeer(s.make, programs as Program[]);
  await writeCxxPeer(s.ninja, programs as Program[]);
  return s;
}

async function coldOurs(dir: string, rss = false): Promise<{ ms: number; cpuMs?: number; ok: number; rejected: Record<string, number>; rssKB?: number; executed: number }> {
  await rmrf(path.join(dir, 'cache'), path.join(dir, 'build'));
  const r = await ours(dir, [], { keepEvents: true, rss });
  const c = countStatus(r.events, 'validated');
  if (r.summary.failed?.length) throw new Error(`asmgraph build failed in ${dir}: ${JSON.stringify(r.summary.failed).slice(0, 2000)}`);
  return { ms: r.ms, cpuMs: r.cpuMs, ok: c.ok, rejected: c.rejected, rssKB: r.rssKB, executed: r.summary.executed };
}

async function coldPeer(tool: 'make' | 'ninja', dir: string, jobs: number): Promise<{ ms: number; cpuMs?: number; ok: number }> {
  await rmrf(path.join(dir, 'w'), path.join(dir, '.ninja_log'), path.join(dir, '.ninja_deps'));
  const r = tool === 'make'
    ? await timed('make', ['-j', String(jobs), '-k', '-s'], { cwd: dir, check: false })
    : await timed('ninja', ['-j', String(jobs), '-k', '0'], { cwd: dir, check: false });
  return { ms: r.ms, cpuMs: r.cpuMs, ok: await countOk(dir) };
}

async function coldSection(s: CxxSetup, runs: number, defaultRuns: number, jobs: number): Promise<Section> {
  const n = s.programs.length;
  const names = s.programs.map((p) => p.name);
  const samples = { ours: [] as number[], oursDefault: [] as number[], make: [] as number[], ninja: [] as number[] };
  const cpu = { ours: [] as number[], oursDefault: [] as number[], make: [] as number[], ninja: [] as number[] };
  const ratios = { make: [] as number[], ninja: [] as number[], defaultVsMake: [] as number[], defaultVsNinja: [] as number[] };
  const okCounts: Record<string, number[]> = { ours: [], oursDefault: [], make: [], ninja: [] };
  const rejected: Record<string, Record<string, number>> = {};
  let rssKB: number | undefined;
  for (let i = 0; i < runs; i++) {
    // Rotate the order so drift in machine load does not always favour the same tool.
    const order = ['ours', 'make', 'ninja', 'oursDefault'].filter((t) => t !== 'oursDefault' || i < defaultRuns);
    for (let k = 0; k < i % 3; k++) order.push(order.shift()!);
    const run: Record<string, number> = {};
    for (const tool of order) {
      log(`${s.label}: cold run ${i + 1}/${runs}: ${tool} (${n} programs)`);
      if (tool === 'ours' || tool === 'oursDefault') {
        const r = await coldOurs(tool === 'ours' ? s.oursNf : s.oursDef, tool === 'ours' && i === 0);
        if (tool === 'ours' && i === 0) rssKB = r.rssKB;
        run[tool] = r.ms;
        if (r.cpuMs !== undefined) cpu[tool as keyof typeof cpu].push(r.cpuMs);
        okCounts[tool].push(r.ok);
        rejected[tool] = r.rejected;
      } else {
        const r = await coldPeer(tool as 'make' | 'ninja', tool === 'make' ? s.make : s.ninja, jobs);
        run[tool] = r.ms;
        if (r.cpuMs !== undefined) cpu[tool as keyof typeof cpu].push(r.cpuMs);
        okCounts[tool].push(r.ok);
      }
      log(`  ${tool}: ${fmtMs(run[tool])}`);
    }
    for (const t of Object.keys(run)) samples[t as keyof typeof samples].push(run[t]);
    ratios.make.push(run.ours / run.make);
    ratios.ninja.push(run.ours / run.ninja);
    if (run.oursDefault !== undefined) {
      ratios.defaultVsMake.push(run.oursDefault / run.make);
      ratios.defaultVsNinja.push(run.oursDefault / run.ninja);
    }
  }
  const asmVsMake = await compareAsm(s.oursNf, s.make, names);
  const asmVsNinja = await compareAsm(s.oursNf, s.ninja, names);
  const st = {
    ours: stat(samples.ours), oursDefault: stat(samples.oursDefault), make: stat(samples.make), ninja: stat(samples.ninja),
  };
  const rt = { make: stat(ratios.make), ninja: stat(ratios.ninja), defaultVsMake: stat(ratios.defaultVsMake), defaultVsNinja: stat(ratios.defaultVsNinja) };
  return {
    title: '', status: 'measured', programs: n, runs, defaultRuns: Math.min(defaultRuns, runs), jobs,
    wallMs: st, ratio: rt,
    cpuMs: { ours: stat(cpu.ours), oursDefault: stat(cpu.oursDefault), make: stat(cpu.make), ninja: stat(cpu.ninja) },
    target: { ratioMax: 0.5, met: rt.make.median <= 0.5 && rt.ninja.median <= 0.5 },
    validatedOk: okCounts, rejected,
    asmIdentical: { vsMake: { ...asmVsMake, differ: asmVsMake.differ.slice(0, 20), missing: asmVsMake.missing.slice(0, 20) }, vsNinja: { ...asmVsNinja, differ: asmVsNinja.differ.slice(0, 20), missing: asmVsNinja.missing.slice(0, 20) }, allIdentical: asmVsMake.identical === n && asmVsNinja.identical === n },
    peakRssKB: rssKB,
  };
}

/**
 * The headline: `asmgraph build` of the repository's own pipeline.yaml (its default targets: the
 * -O0 and cleaned compiles, validate with both clocks and the uninitialised-memory reference, the
 * -Os fallback where needed, the dataset) against `make -j` running the seed's commands per
 * program (tasks in bench/peers.ts `seedMakefile`). Cold each run (cache/ and build/ removed, the
 * peer's w/ removed), the pair back to back, the order alternated.
 */
async function coldDefaultSection(work: string, label: string, programs: { name: string; source: string }[], fromRepo: boolean, runs: number, jobs: number): Promise<Section> {
  const root = path.join(work, `default-${label}`);
  const oursDir = path.join(root, 'ours');
  const makeDir = path.join(root, 'make');
  await fsp.rm(root, { recursive: true, force: true });
  await fsp.mkdir(oursDir, { recursive: true });
  await fsp.cp(path.join(REPO, 'toolchain'), path.join(oursDir, 'toolchain'), { recursive: true });
  await fsp.copyFile(path.join(REPO, 'pipeline.yaml'), path.join(oursDir, 'pipeline.yaml'));
  await fsp.mkdir(path.join(oursDir, 'sources'));
  if (fromRepo) {
    // Each program with what lies beside it: its request, its stdin case or folder of cases.
    for (const p of programs) {
      for (const side of [`${p.name}.cpp`, `${p.name}.prompt.txt`, `${p.name}.stdin.txt`, `${p.name}.inputs`]) {
        if (existsSync(path.join(REPO, 'sources', side))) await fsp.cp(path.join(REPO, 'sources', side), path.join(oursDir, 'sources', side), { recursive: true });
      }
    }
  } else {
    for (const p of programs) {
      await fsp.writeFile(path.join(oursDir, 'sources', `${p.name}.cpp`), p.source);
      await fsp.writeFile(path.join(oursDir, 'sources', `${p.name}.prompt.txt`), `Write a C++ program: ${p.name.replace(/_/g, ' ')}.\n`);
    }
  }
  await writeSeedPeer(makeDir, programs);
  const wall = { ours: [] as number[], make: [] as number[] };
  const cpu = { ours: [] as number[], make: [] as number[] };
  const ratio: number[] = [];
  const cpuRatio: number[] = [];
  let oursOk = 0;
  let makeOk = 0;
  let examples: number | undefined;
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['ours', 'make'] : ['make', 'ours'];
    const run: Record<string, { ms: number; cpuMs?: number }> = {};
    for (const tool of order) {
      log(`${label}: default pipeline, cold run ${i + 1}/${runs}: ${tool} (${programs.length} programs)`);
      if (tool === 'ours') {
        await rmrf(path.join(oursDir, 'cache'), path.join(oursDir, 'build'));
        const r = await ours(oursDir, ['-j', String(jobs)], { keepEvents: true });
        if (r.summary.failed?.length) throw new Error(`asmgraph build failed in ${oursDir}: ${JSON.stringify(r.summary.failed).slice(0, 2000)}`);
        oursOk = countStatus(r.events, 'validated').ok + countStatus(r.events, 'validated-Os').ok;
        const report = JSON.parse(await fsp.readFile(path.join(oursDir, 'build/dataset.report.json'), 'utf8').catch(() => '{}'));
        examples = report.examples?.total;
        run.ours = { ms: r.ms, cpuMs: r.cpuMs };
      } else {
        await rmrf(path.join(makeDir, 'w'));
        const r = await timed('make', ['-j', String(jobs), '-k', '-s'], { cwd: makeDir, check: false });
        makeOk = await countOk(makeDir);
        run.make = { ms: r.ms, cpuMs: r.cpuMs };
      }
      log(`  ${tool}: ${fmtMs(run[tool]!.ms)}`);
    }
    wall.ours.push(run.ours!.ms);
    wall.make.push(run.make!.ms);
    if (run.ours!.cpuMs !== undefined) cpu.ours.push(run.ours!.cpuMs);
    if (run.make!.cpuMs !== undefined) cpu.make.push(run.make!.cpuMs);
    ratio.push(run.ours!.ms / run.make!.ms);
    if (run.ours!.cpuMs !== undefined && run.make!.cpuMs !== undefined) cpuRatio.push(run.ours!.cpuMs / run.make!.cpuMs);
  }
  const rt = stat(ratio);
  // Scaling from 1 job to `jobs` (full mode, the bundled corpus): one cold run at -j 1.
  let oneJob: { ms: number; cpuMs?: number } | undefined;
  if (fromRepo && runs > 1 && jobs > 1) {
    log(`${label}: default pipeline, cold, -j 1`);
    await rmrf(path.join(oursDir, 'cache'), path.join(oursDir, 'build'));
    const r = await ours(oursDir, ['-j', '1'], {});
    oneJob = { ms: r.ms, cpuMs: r.cpuMs };
  }
  const noop = fromRepo ? await bundledNoop(oursDir, runs <= 1 ? 3 : 10) : undefined;
  return {
    title: '', status: 'measured', label, programs: programs.length, runs, jobs, noop,
    scaling: oneJob ? { oneJobMs: oneJob.ms, oneJobCpuMs: oneJob.cpuMs, speedup: oneJob.ms / stat(wall.ours).median } : undefined,
    wallMs: { ours: stat(wall.ours), make: stat(wall.make) }, cpuMs: { ours: stat(cpu.ours), make: stat(cpu.make) },
    ratio: rt, cpuRatio: stat(cpuRatio), target: { ratioMax: 0.6, met: rt.median <= 0.6 },
    oursValidatedVariants: oursOk, makeOk, examples,
  };
}

/**
 * The no-op of the built project, five ways, alternated run by run: through `npm run build-graph`
 * (what the README tells users to type), the bundled CLI alone, tsc's unbundled output, a bare
 * `node -e 0` (the floor any Node CLI pays here) and `npm run` of a script that is `node -e 0`
 * (the floor of anything started through npm).
 */
async function bundledNoop(dir: string, runs: number): Promise<Record<string, unknown>> {
  const file = path.join(dir, 'pipeline.yaml');
  const floor = path.join(path.dirname(dir), 'npm-floor');
  await fsp.mkdir(floor, { recursive: true });
  await fsp.writeFile(path.join(floor, 'package.json'), JSON.stringify({ name: 'npm-floor', version: '1.0.0', private: true, scripts: { noop: 'node -e 0' } }));
  const ways: Record<string, [string, string[], string]> = {
    npm: ['npm', ['--prefix', REPO, 'run', '-s', 'build-graph', '--', '-q', '-f', file], REPO],
    npmFloor: ['npm', ['--prefix', floor, 'run', '-s', 'noop'], floor],
    bundle: [process.execPath, [CLI, '-q'], dir],
    unbundled: [process.execPath, [TSC_CLI, '-q'], dir],
    node: [process.execPath, ['-e', '0'], dir],
  };
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
  for (const [cmd, args, cwd] of Object.values(ways)) await timed(cmd, args, { cwd, check: true }); // warm the page cache
  for (let i = 0; i < runs; i++) {
    for (const [k, [cmd, args, cwd]] of Object.entries(ways)) {
      const r = await timed(cmd, args, { cwd, check: true });
      if (k !== 'node' && k !== 'npmFloor' && !/nothing to do/.test(r.stdout + r.stderr)) throw new Error(`the no-op (${k}) built something: ${(r.stdout + r.stderr).slice(0, 500)}`);
      ms[k]!.push(r.ms);
    }
  }
  const s = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, stat(v)])) as Record<string, Stat>;
  return { runs, wallMs: s, target: { npmMax: 250, cliMax: 150, npmMet: s.npm!.median <= 250, cliMet: s.bundle!.median <= 150 } };
}

function editSource(src: string, e: number): string {
  const stmt = `  volatile unsigned edit_slot_${e} = ${e + 1}u; (void)edit_slot_${e};`;
  if (src.includes('// EDIT-SLOT')) return src.replace('// EDIT-SLOT', `// EDIT-SLOT\n${stmt}`);
  return `${src}\nstatic volatile unsigned edit_slot_${e} = ${e + 1}u;\n`;
}

async function editSection(s: CxxSetup, runs: number, jobs: number): Promise<Section> {
  // Bring everything up to date first (the cold runs already did, unless a tool was skipped).
  await ours(s.oursNf, []);
  await timed('ninja', ['-j', String(jobs), '-k', '0'], { cwd: s.ninja, check: false });
  await timed('make', ['-j', String(jobs), '-k', '-s'], { cwd: s.make, check: false });
  const samples = { ours: [] as number[], ninja: [] as number[], make: [] as number[] };
  const ratios = { ninja: [] as number[], make: [] as number[] };
  const executed: number[] = [];
  const n = s.programs.length;
  for (let e = 0; e < runs; e++) {
    const p = s.programs[(e * 37 + 5) % n];
    const src = editSource(p.source, e);
    await fsp.writeFile(path.join(s.oursNf, 'sources', `${p.name}.cpp`), src);
    await fsp.writeFile(path.join(s.ninja, 'src', `${p.name}.cpp`), src);
    await fsp.writeFile(path.join(s.make, 'src', `${p.name}.cpp`), src);
    const o = await ours(s.oursNf, []);
    executed.push(o.summary.executed);
    const nj = await timed('ninja', ['-j', String(jobs), '-k', '0'], { cwd: s.ninja, check: false });
    const mk = await timed('make', ['-j', String(jobs), '-k', '-s'], { cwd: s.make, check: false });
    samples.ours.push(o.ms);
    samples.ninja.push(nj.ms);
    samples.make.push(mk.ms);
    ratios.ninja.push(o.ms / nj.ms);
    ratios.make.push(o.ms / mk.ms);
    log(`edit ${e + 1}/${runs} (${p.name}): ours ${fmtMs(o.ms)} (executed ${o.summary.executed}), ninja ${fmtMs(nj.ms)}, make ${fmtMs(mk.ms)}`);
  }
  return {
    title: '', status: 'measured', programs: n, runs,
    wallMs: { ours: stat(samples.ours), ninja: stat(samples.ninja), make: stat(samples.make) },
    ratio: { ninja: stat(ratios.ninja), make: stat(ratios.make) },
    oursExecutedNodes: executed,
  };
}

async function restoreSection(s: CxxSetup, runs: number): Promise<Section> {
  await ours(s.oursNf, []);
  const samples: number[] = [];
  let cached = 0;
  for (let i = 0; i < runs; i++) {
    await rmrf(path.join(s.oursNf, 'build'));
    const r = await ours(s.oursNf, []);
    samples.push(r.ms);
    cached = r.summary.cached;
    log(`restore ${i + 1}/${runs}: ${fmtMs(r.ms)} (cached ${r.summary.cached}, executed ${r.summary.executed})`);
  }
  return {
    title: '', status: 'measured', project: s.label, programs: s.programs.length, runs,
    wallMs: stat(samples), nodesRestored: cached,
    note: 'make and ninja have no cache: after rm -rf of their outputs they redo the cold build (see section 2).',
  };
}

async function noopSection(work: string, items: number, runs: number, jobs: number, rss: Record<string, unknown>): Promise<Section> {
  const oursDir = path.join(work, `copy-${items}`, 'ours');
  const peerDir = path.join(work, `copy-${items}`, 'peer');
  const t0 = performance.now();
  const names = await generateSmallFiles(path.join(oursDir, 'items'), items);
  await fsp.cp(path.join(oursDir, 'items'), path.join(peerDir, 'items'), { recursive: true });
  const genMs = performance.now() - t0;
  await fsp.writeFile(path.join(oursDir, 'pipeline.yaml'), copyPipeline());
  await fsp.writeFile(path.join(peerDir, 'Makefile'), copyMakefile(names));
  await fsp.writeFile(path.join(peerDir, 'build.ninja'), copyNinja(names));

  log(`noop: cold build of ${items} cp items: ours`);
  const cold = await ours(oursDir, [], { rss: true });
  if (!cold.summary.ok) throw new Error(`the ${items}-item build failed: ${JSON.stringify(cold.summary.failed).slice(0, 1000)}`);
  rss.build10k = { items, rssKB: cold.rssKB, wallMs: cold.ms };
  log(`  ours cold ${fmtMs(cold.ms)}, peak RSS ${cold.rssKB} KiB; ninja / make cold`);
  const ninjaCold = await timed('ninja', ['-j', String(jobs)], { cwd: peerDir });
  await fsp.rm(path.join(peerDir, 'out'), { recursive: true, force: true });
  await fsp.mkdir(path.join(peerDir, 'out'));
  const makeCold = await timed('make', ['-j', String(jobs), '-s'], { cwd: peerDir });
  // make wrote out/ last; ninja's log still describes the same files (same content, newer mtimes
  // → ninja would consider them dirty only if older than inputs). Re-run ninja once to settle.
  await timed('ninja', ['-j', String(jobs)], { cwd: peerDir });

  const s = { ours: [] as number[], ninja: [] as number[], makeQ: [] as number[], make: [] as number[] };
  const ratios: number[] = [];
  let oursRss = 0;
  let upToDate = 0;
  let hashed = 0;
  let makeQCode: number | null = null;
  let ninjaWork = '';
  for (let i = 0; i < runs; i++) {
    const o = await ours(oursDir, [], { rss: true });
    oursRss = Math.max(oursRss, o.rssKB ?? 0);
    upToDate = o.summary.upToDate;
    hashed = o.summary.hashedFiles;
    const nj = await timed('ninja', ['-j', String(jobs)], { cwd: peerDir });
    ninjaWork = nj.stdout.trim().split('\n').pop() ?? '';
    const mq = await timed('make', ['-q'], { cwd: peerDir, check: false });
    makeQCode = mq.code;
    const mk = await timed('make', ['-s'], { cwd: peerDir });
    s.ours.push(o.ms);
    s.ninja.push(nj.ms);
    s.makeQ.push(mq.ms);
    s.make.push(mk.ms);
    ratios.push(o.ms / nj.ms);
    log(`noop ${i + 1}/${runs}: ours ${fmtMs(o.ms)} (engine wallMs ${o.summary.wallMs}), ninja ${fmtMs(nj.ms)}, make -q ${fmtMs(mq.ms)}, make ${fmtMs(mk.ms)}`);
  }
  const oursStat = stat(s.ours);
  const ratio = stat(ratios);
  return {
    title: '', status: 'measured', items, runs, generateMs: Math.round(genMs),
    cold: { oursMs: cold.ms, ninjaMs: ninjaCold.ms, makeMs: makeCold.ms },
    wallMs: { ours: oursStat, ninja: stat(s.ninja), makeQ: stat(s.makeQ), make: stat(s.make) },
    ratioToNinja: ratio,
    oursNoopPeakRssKB: oursRss,
    oursUpToDateNodes: upToDate, oursHashedFiles: hashed, makeQExit: makeQCode, ninjaSays: ninjaWork,
    target: { oursMaxMs: 300, ratioToNinjaMax: 2, metMs: oursStat.median <= 300, metRatio: ratio.median <= 2 },
  };
}

async function dryRunRss(work: string, items: number, rss: Record<string, unknown>): Promise<void> {
  const dir = path.join(work, `dry-${items}`);
  log(`rss: generating ${items} items for the --dry-run graph`);
  await generateSmallFiles(path.join(dir, 'items'), items);
  await fsp.writeFile(path.join(dir, 'pipeline.yaml'), copyPipeline());
  log(`rss: asmgraph --dry-run over ${items} items`);
  const r = await ours(dir, ['--dry-run'], { rss: true });
  rss.dryRun100k = { items, rssKB: r.rssKB, wallMs: r.ms, wouldRun: r.summary.wouldRun, total: r.summary.total };
  log(`  ${fmtMs(r.ms)}, peak RSS ${r.rssKB} KiB`);
}

async function watchSection(work: string, programs: Program[], edits: number): Promise<Section> {
  const dir = path.join(work, 'watch');
  await writeCxxProject(dir, REPO, programs, { nondeterminism: false });
  const child = spawn(process.execPath, [CLI, '--watch', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
  type Ev = { t: number; e: Record<string, any> };
  const queue: Ev[] = [];
  let waiter: (() => void) | undefined;
  let exited: number | null | undefined;
  child.on('close', (c) => {
    exited = c;
    waiter?.();
  });
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    const t = performance.now();
    if (!line.startsWith('{')) return;
    try {
      queue.push({ t, e: JSON.parse(line) as Record<string, any> });
    } catch {
      return;
    }
    waiter?.();
  });
  /** Next event matching `pred` (consuming everything before it), or undefined on timeout/exit. */
  const next = async (pred: (e: Record<string, any>) => boolean, timeoutMs: number): Promise<Ev | undefined> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      while (queue.length) {
        const ev = queue.shift()!;
        if (pred(ev.e)) return ev;
      }
      if (exited !== undefined) return undefined;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      waiter = undefined;
    }
  };
  const stop = async () => {
    if (exited !== undefined) return;
    child.kill('SIGINT');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await new Promise<void>((r) => (exited !== undefined ? r() : child.on('close', () => r())));
    clearTimeout(t);
  };
  try {
    const first = await next((e) => e.type === 'cycle-done', 300_000);
    if (!first) {
      return { title: '', status: `not measured: watch mode gave no initial cycle-done event (exit ${exited ?? 'still running'}; stderr: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'empty'})` };
    }
    // Let any follow-up cycles settle.
    while (await next((e) => e.type === 'cycle-start', 500)) await next((e) => e.type === 'cycle-done', 120_000);
    const toStart: number[] = [];
    const toValidated: number[] = [];
    const toCycleStart: number[] = [];
    /** Per edit: g++ -S + g++ prog.s -o prog + ./prog of the edited program, run directly. */
    const direct: number[] = [];
    const withinBound: boolean[] = [];
    const failures: string[] = [];
    let extraCycles = 0;
    for (let e = 0; e < edits; e++) {
      const p = programs[e % programs.length];
      const src = editSource(p.source, 1000 + e);
      const tWrite = performance.now();
      await fsp.writeFile(path.join(dir, 'sources', `${p.name}.cpp`), src);
      let sawCycle: number | undefined;
      let sawStart: number | undefined;
      let sawValidated: number | undefined;
      const deadline = performance.now() + 120_000;
      while (sawValidated === undefined && performance.now() < deadline) {
        const ev = await next((x) => x.type === 'cycle-start' || (x.type === 'node-start' && x.id === `asm/${p.name}`) ||
          (x.type === 'node-done' && x.id === `validated/${p.name}`) || x.type === 'cycle-done', deadline - performance.now());
        if (!ev) break;
        if (ev.e.type === 'cycle-start') sawCycle ??= ev.t;
        else if (ev.e.type === 'node-start') sawStart ??= ev.t;
        else if (ev.e.type === 'node-done') sawValidated = ev.t;
        else if (ev.e.type === 'cycle-done' && sawCycle !== undefined && sawValidated === undefined) extraCycles++;
      }
      if (sawValidated === undefined || sawStart === undefined) {
        failures.push(`edit ${e} (${p.name}): ${sawStart === undefined ? 'no compile start' : 'no validated node-done'}`);
        if (exited !== undefined) break;
        continue;
      }
      toCycleStart.push(sawCycle! - tWrite);
      toStart.push(sawStart - tWrite);
      toValidated.push(sawValidated - tWrite);
      // Wait for this cycle's end and any follow-up cycle before the next save.
      await next((x) => x.type === 'cycle-done', 120_000);
      while (await next((x) => x.type === 'cycle-start', 300)) {
        extraCycles++;
        await next((x) => x.type === 'cycle-done', 120_000);
      }
      // The bound: the same program compiled, linked and run directly, while the watcher is idle.
      const d = await directWork(path.join(work, 'watch-direct'), src);
      direct.push(d);
      withinBound.push(sawValidated - tWrite <= d + 100);
      if ((e + 1) % 10 === 0) log(`watch: ${e + 1}/${edits} edits, last save→validated ${fmtMs(sawValidated - tWrite)}`);
    }
    if (!toValidated.length) return { title: '', status: `not measured: no edit was seen through to validation (${failures.slice(0, 3).join('; ')})` };
    const pct = (xs: number[]) => ({ ...stat(xs), p95: percentile(xs, 95) });
    return {
      title: '', status: 'measured', programs: programs.length, edits, measured: toValidated.length,
      saveToCycleStartMs: pct(toCycleStart), saveToCompileStartMs: pct(toStart), saveToValidatedMs: pct(toValidated),
      directCompileLinkRunMs: pct(direct), editsWithinBound: withinBound.filter(Boolean).length,
      target: { compileStartMaxMs: 100, metCompileStart: percentile(toStart, 50) <= 100, validatedBoundMet: withinBound.filter(Boolean).length * 2 > withinBound.length },
      followUpCycles: extraCycles, failures,
    };
  } finally {
    await stop();
  }
}

/**
 * Wall time of the work a one-file change needs, done directly (no asmgraph, no PCH, no sandbox):
 * `g++ -S -std=gnu++17 -O0 prog.cpp -o prog.s`, `g++ prog.s -o prog`, `./prog`.
 */
async function directWork(dir: string, source: string): Promise<number> {
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'prog.cpp'), source);
  const t0 = performance.now();
  await timed('g++', ['-S', ...CXXFLAGS.split(' '), 'prog.cpp', '-o', 'prog.s'], { cwd: dir });
  await timed('g++', ['prog.s', '-o', 'prog'], { cwd: dir });
  await timed('./prog', [], { cwd: dir, check: false });
  return performance.now() - t0;
}

async function hashSection(work: string, totalMB: number, runs: number): Promise<Section> {
  const dir = path.join(work, 'hash');
  await fsp.mkdir(dir, { recursive: true });
  const fileMB = Math.min(8, totalMB);
  const nFiles = Math.max(1, Math.round(totalMB / fileMB));
  const files: string[] = [];
  for (let i = 0; i < nFiles; i++) {
    const f = path.join(dir, `blob${String(i).padStart(3, '0')}.bin`);
    await fsp.writeFile(f, randomBytes(fileMB * 1024 * 1024));
    files.push(f);
  }
  const bytes = nFiles * fileMB * 1024 * 1024;
  const mb = bytes / 1024 / 1024;
  for (const f of files) await fsp.readFile(f); // warm the page cache
  const ours: number[] = [];
  const raw: number[] = [];
  const sum: number[] = [];
  const check: string[] = [];
  for (let i = 0; i < runs; i++) {
    const hasher = new FileHasher(path.join(dir, `no-such-state-${i}.json`));
    let t0 = performance.now();
    const hashes: string[] = [];
    for (const f of files) hashes.push((await hasher.hash(path.basename(f), f)).hash);
    ours.push(performance.now() - t0);
    // sha256 of the same bytes already in memory: the hash function alone.
    const bufs: Buffer[] = [];
    for (const f of files.slice(0, Math.min(files.length, 4))) bufs.push(await fsp.readFile(f));
    t0 = performance.now();
    for (const b of bufs) sha256(b);
    raw.push(((performance.now() - t0) * nFiles) / bufs.length);
    const s = await timed('sha256sum', files, { cwd: dir });
    sum.push(s.ms);
    if (i === 0) {
      const theirs = s.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
      check.push(theirs.every((h, k) => h === hashes[k]) ? 'identical' : 'DIFFERENT');
    }
  }
  const mbps = (xs: number[]) => stat(xs.map((ms) => mb / (ms / 1000)));
  return {
    title: '', status: 'measured', files: nFiles, totalMB: mb, runs,
    mbPerSec: { fileHasher: mbps(ours), sha256InMemory: mbps(raw), sha256sum: mbps(sum) },
    wallMs: { fileHasher: stat(ours), sha256sum: stat(sum) },
    ratioToSha256sum: stat(ours.map((o, i) => sum[i] / o)),
    hashesMatchSha256sum: check[0],
  };
}

// ------------------------------------------------------------------ markdown

function table(rows: string[][]): string {
  const [h, ...rest] = rows;
  return [`| ${h.join(' | ')} |`, `|${h.map(() => '---').join('|')}|`, ...rest.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const kb = (k: unknown) => (typeof k === 'number' ? `${(k / 1024).toFixed(0)} MB` : 'n/a');
const mbs = (x: number) => `${x.toFixed(0)} MB/s`;

function renderSection(key: string, s: Section): string {
  const out: string[] = [`## ${s.title}`, ''];
  if (s.status !== 'measured') {
    out.push(`**${s.status}**`, '');
    return out.join('\n');
  }
  const a = s as any;
  switch (key) {
    case 'sandbox':
      out.push(`${a.runs} runs of a hello-world binary each way, alternated.`, '');
      out.push(table([
        ['run', 'wall', 'median over plain'],
        ['plain spawn', fmtStat(a.wallMs.plain), '—'],
        ['sandboxed (bwrap, namespaces, limits)', fmtStat(a.wallMs.sandboxed), fmtMs(a.overheadMs.sandboxed)],
        ['sandboxed at a fake clock (libfaketime)', fmtStat(a.wallMs.sandboxedFaketime), fmtMs(a.overheadMs.faketime)],
      ]), '');
      break;
    case 'coldDefault': {
      for (const c of a.cases as any[]) {
        if (c.status !== 'measured') {
          out.push(`**${c.label}**: ${c.status}`, '');
          continue;
        }
        out.push(`**${c.label}** (${c.programs} programs, \`-j ${c.jobs}\`, ${c.runs} cold pairs back to back, order alternated): the default \`pipeline.yaml\` as \`npm run build-graph\` runs it, every check of validate on (two reference runs at two clocks, the uninitialised-memory build, the cleaned variant validated), against \`make -j\` running the seed's commands (\`g++ -O0 -S\`, \`g++ prog.s -o prog\`, \`g++ -O0 prog.cpp\`, the reference twice, the assembly once, compare).`, '');
        out.push(table([
          ['tool', 'wall', 'CPU (user + system)', 'result'],
          ['asmgraph, default pipeline', fmtStat(c.wallMs.ours), c.cpuMs.ours.n ? fmtStat(c.cpuMs.ours) : 'n/a', `${c.oursValidatedVariants} variants validated, ${c.examples ?? '?'} examples`],
          ['make -j, the seed\'s commands', fmtStat(c.wallMs.make), c.cpuMs.make.n ? fmtStat(c.cpuMs.make) : 'n/a', `${c.makeOk}/${c.programs} programs agree`],
        ]), '');
        out.push(table([
          ['ratio (asmgraph / make, per pair)', 'value', 'target ≤ 0.6'],
          ['wall', fmtRatio(c.ratio), c.ratio.median <= 0.6 ? 'met' : '**missed**'],
          ['CPU', c.cpuRatio.n ? fmtRatio(c.cpuRatio) : 'n/a', ''],
        ]), '');
        if (c.scaling) {
          out.push(`From 1 job to ${c.jobs}: one cold run at \`-j 1\` took ${fmtMs(c.scaling.oneJobMs)}${c.scaling.oneJobCpuMs ? ` (CPU ${fmtMs(c.scaling.oneJobCpuMs)})` : ''}, the median at \`-j ${c.jobs}\` ${fmtMs(c.wallMs.ours.median)}: **${c.scaling.speedup.toFixed(2)}× faster** with ${c.jobs} jobs (bench/NOTES.md says what the profile predicts beyond).`, '');
        }
        if (c.noop) {
          const w = c.noop.wallMs;
          out.push(`No-op of that built project (${c.noop.runs} runs each, alternated):`, '');
          out.push(table([
            ['how', 'wall', 'target'],
            ['`npm run build-graph` (scripts/build-graph.mjs → the bundle)', fmtStat(w.npm), `≤ 250 ms: ${c.noop.target.npmMet ? 'met' : '**missed**'}`],
            ['`node dist/bundle/cli.js` (the CLI alone)', fmtStat(w.bundle), `≤ 150 ms: ${c.noop.target.cliMet ? 'met' : '**missed**'}`],
            ['`node dist/src/cli.js` (tsc output, unbundled)', fmtStat(w.unbundled), ''],
            ['`node -e 0` (the floor)', fmtStat(w.node), ''],
            ['`npm run` of a script that is `node -e 0` (npm\'s own floor)', fmtStat(w.npmFloor), ''],
          ]), '');
        }
      }
      break;
    }
    case 'yield':
      out.push(...renderYield(a.corpora as YieldCorpus[]));
      if (a.note) out.push(String(a.note), '');
      break;
    case 'workloads':
      out.push(table([
        ['workload', 'items', 'details'],
        ...a.workloads.map((w: any) => [w.name, String(w.items), w.details]),
      ]));
      break;
    case 'coldSmall':
    case 'coldLarge':
    case 'coldCorpus': {
      out.push(`${a.programs} programs, \`-j ${a.jobs}\` for every tool; ${a.runs} run(s), pairs measured back to back within each run (order rotated).`, '');
      const rows = [['tool', 'wall', 'validated ok']];
      const ok = (t: string) => (a.validatedOk[t]?.length ? `${a.validatedOk[t][a.validatedOk[t].length - 1]}/${a.programs}` : 'n/a');
      rows.push(['asmgraph (`nondeterminism: false`)', fmtStat(a.wallMs.ours), ok('ours')]);
      if (a.wallMs.oursDefault.n) rows.push(['asmgraph (default: nondeterminism check)', fmtStat(a.wallMs.oursDefault), ok('oursDefault')]);
      rows.push(['make -j', fmtStat(a.wallMs.make), ok('make')]);
      rows.push(['ninja -j', fmtStat(a.wallMs.ninja), ok('ninja')]);
      out.push(table(rows), '');
      if (a.cpuMs?.ours?.n) {
        out.push(`CPU time (user + system of the tool and all its children, GNU time; less sensitive to other load than wall): asmgraph ${fmtStat(a.cpuMs.ours)}` +
          `${a.cpuMs.oursDefault.n ? `, asmgraph default ${fmtStat(a.cpuMs.oursDefault)}` : ''}, make ${fmtStat(a.cpuMs.make)}, ninja ${fmtStat(a.cpuMs.ninja)}; ` +
          `median CPU ratio asmgraph / make ${(a.cpuMs.ours.median / a.cpuMs.make.median).toFixed(2)}, / ninja ${(a.cpuMs.ours.median / a.cpuMs.ninja.median).toFixed(2)}.`, '');
      }
      out.push(table([
        ['ratio (ours / theirs, per run)', 'value', 'target ≤ 0.5'],
        ['asmgraph / make', fmtRatio(a.ratio.make), a.ratio.make.median <= 0.5 ? 'met' : '**missed**'],
        ['asmgraph / ninja', fmtRatio(a.ratio.ninja), a.ratio.ninja.median <= 0.5 ? 'met' : '**missed**'],
        ...(a.ratio.defaultVsMake.n ? [
          ['asmgraph default / make', fmtRatio(a.ratio.defaultVsMake), a.ratio.defaultVsMake.median <= 0.5 ? 'met' : '**missed**'],
          ['asmgraph default / ninja', fmtRatio(a.ratio.defaultVsNinja), a.ratio.defaultVsNinja.median <= 0.5 ? 'met' : '**missed**'],
        ] : []),
      ]), '');
      const vm = a.asmIdentical.vsMake;
      const vn = a.asmIdentical.vsNinja;
      out.push(`.s byte-identical (ours build/asm/P.s vs the peer's w/P/prog.s): vs make ${vm.identical}/${a.programs}, vs ninja ${vn.identical}/${a.programs}` +
        `${vm.differ.length || vn.differ.length ? ` — differ: ${[...new Set([...vm.differ, ...vn.differ])].slice(0, 10).join(', ')}` : ''}` +
        `${vm.missing.length || vn.missing.length ? ` — missing on one side: ${[...new Set([...vm.missing, ...vn.missing])].slice(0, 10).join(', ')}` : ''}.`);
      const rej = Object.entries(a.rejected ?? {}).filter(([, v]) => Object.keys(v as object).length);
      if (rej.length) out.push('', `asmgraph rejections: ${rej.map(([t, v]) => `${t}: ${JSON.stringify(v)}`).join('; ')}`);
      if (a.peakRssKB) out.push('', `asmgraph peak RSS (first run): ${kb(a.peakRssKB)}`);
      break;
    }
    case 'noop':
      out.push(`${a.items} \`command\` items (\`cp "$IN" "$OUT"\`); asmgraph measured as the whole CLI process (\`node dist/bundle/cli.js --json\`), ${a.runs} runs.`, '');
      out.push(table([
        ['tool', 'no-op wall'],
        ['asmgraph', fmtStat(a.wallMs.ours)],
        ['ninja', fmtStat(a.wallMs.ninja)],
        ['make -q', fmtStat(a.wallMs.makeQ)],
        ['make (no-op build)', fmtStat(a.wallMs.make)],
      ]), '');
      out.push(`Ratio asmgraph / ninja: ${fmtRatio(a.ratioToNinja)} (aim ≤ 2×: ${a.target.metRatio ? 'met' : '**missed**'}); target ≤ 300 ms: ${a.target.metMs ? 'met' : '**missed**'}.`, '');
      out.push(`Cold build of the same ${a.items} items (1 run): asmgraph ${fmtMs(a.cold.oursMs)}, ninja ${fmtMs(a.cold.ninjaMs)}, make ${fmtMs(a.cold.makeMs)}.`);
      out.push('', `asmgraph no-op: ${a.oursUpToDateNodes} nodes up to date, ${a.oursHashedFiles} files re-hashed; make -q exit ${a.makeQExit}; ninja: "${a.ninjaSays}".`);
      break;
    case 'edit':
      out.push(`One program of ${a.programs} edited (a statement inserted in main, so the .s changes), then an incremental build; ${a.runs} edits.`, '');
      out.push(table([
        ['tool', 'incremental wall'],
        ['asmgraph', fmtStat(a.wallMs.ours)],
        ['ninja', fmtStat(a.wallMs.ninja)],
        ['make', fmtStat(a.wallMs.make)],
      ]), '');
      out.push(`Ratio asmgraph / ninja: ${fmtRatio(a.ratio.ninja)}; asmgraph / make: ${fmtRatio(a.ratio.make)}. asmgraph nodes executed per edit: ${a.oursExecutedNodes.join(', ')}.`);
      break;
    case 'restore':
      out.push(`${a.project}: ${a.programs} programs; \`rm -rf build/\` then \`asmgraph\`; ${a.runs} runs.`, '');
      out.push(`Restore wall: ${fmtStat(a.wallMs)} (${a.nodesRestored} nodes restored from the cache).`, '', a.note);
      break;
    case 'watch':
      out.push(`\`asmgraph --watch --json\` over ${a.programs} programs; ${a.measured}/${a.edits} edits measured (one save at a time; times from just before the write to reading the NDJSON line).`, '');
      out.push(table([
        ['latency', 'median', 'p95', 'min', 'max'],
        ...([['save → cycle-start', a.saveToCycleStartMs], ['save → compile start (node-start asm/P)', a.saveToCompileStartMs], ['save → validated (node-done validated/P)', a.saveToValidatedMs],
          ...(a.directCompileLinkRunMs ? [['direct g++ -S + g++ prog.s -o prog + ./prog (no asmgraph)', a.directCompileLinkRunMs]] : [])] as [string, any][])
          .map(([l, v]) => [l, fmtMs(v.median), fmtMs(v.p95), fmtMs(v.min), fmtMs(v.max)]),
      ]));
      if (a.directCompileLinkRunMs) {
        out.push('', `Targets: save → compile start ≤ 100 ms: ${a.target.metCompileStart ? 'met' : '**missed**'} (median ${fmtMs(a.saveToCompileStartMs.median)}). ` +
          `Save → validated ≤ compile + link + run + 100 ms (the direct time of the same edit, measured right after its cycle): ${a.editsWithinBound}/${a.measured} edits within it — ${a.target.validatedBoundMet ? 'met' : '**missed**'}. ` +
          'The direct compile uses no precompiled header; asmgraph compiles with one and runs in the sandbox.');
      }
      if (a.followUpCycles) out.push('', `Follow-up cycles after an edit (racy re-check): ${a.followUpCycles}.`);
      if (a.failures.length) out.push('', `Edits not seen through: ${a.failures.join('; ')}`);
      break;
    case 'rss': {
      const rows = [['process', 'peak RSS', 'wall', 'target']];
      if (a.build10k) rows.push([`cold build, ${a.build10k.items} command items`, kb(a.build10k.rssKB), fmtMs(a.build10k.wallMs), `≤ 300 MB: ${a.build10k.rssKB / 1024 <= 300 ? 'met' : '**missed**'}`]);
      else rows.push(['cold build, command items', 'n/a', 'n/a', a.build10kReason ?? '']);
      if (a.dryRun100k) rows.push([`--dry-run, ${a.dryRun100k.items} command items`, kb(a.dryRun100k.rssKB), fmtMs(a.dryRun100k.wallMs), `≤ 1 GB: ${a.dryRun100k.rssKB / 1024 <= 1024 ? 'met' : '**missed**'}`]);
      else rows.push(['--dry-run, command items', 'n/a', 'n/a', a.dryRunReason ?? '']);
      if (a.cold2000) rows.push([`cold C++ build, ${a.cold2000.programs} programs`, kb(a.cold2000.rssKB), '', '']);
      out.push(table(rows), '', `Measured with ${a.method}.`);
      break;
    }
    case 'hash':
      out.push(`${a.files} files, ${a.totalMB} MB in the page cache; ${a.runs} runs.`, '');
      out.push(table([
        ['hasher', 'throughput'],
        ['FileHasher.hash (src/store/file-hasher.ts: stat + read + sha256 + stat)', fmtStat(a.mbPerSec.fileHasher, mbs)],
        ['sha256 of in-memory buffers (src/hash.ts)', fmtStat(a.mbPerSec.sha256InMemory, mbs)],
        ['sha256sum (coreutils, one process, all files)', fmtStat(a.mbPerSec.sha256sum, mbs)],
      ]), '', `FileHasher / sha256sum throughput: ${fmtRatio(a.ratioToSha256sum)}; digests ${a.hashesMatchSha256sum}.`);
      break;
    default:
      out.push('```json', JSON.stringify(s, null, 2), '```');
  }
  out.push('');
  return out.join('\n');
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const lines = [
    '# asmgraph benchmark results',
    '',
    `Generated by \`npm run bench\` (bench/run.ts) on ${m.date}; mode **${r.config.mode}**, BENCH_SCALE ${r.config.scale}, BENCH_CXX_SCALE ${r.config.cxxScale}, seed ${r.config.seed}; total ${r.totalMs ? fmtMs(r.totalMs) : 'n/a'}.`,
    'Figures are medians with (min, max) over n runs unless marked "1 run". Ratios are computed pair by pair within one run, then summarised.',
    'See bench/NOTES.md for method, caveats and profile findings.',
    '',
    '## Machine',
    '',
    table([
      ['', ''],
      ['nproc', String(m.nproc)],
      ['CPU', m.cpuModel],
      ['memory', `${m.memTotalMB} MB`],
      ['load average at start (1/5/15 min)', m.loadAvgStart.join(' / ')],
      ['load average at end', m.loadAvgEnd?.join(' / ') ?? 'n/a'],
      ['kernel', m.kernel],
      ['node', m.node],
      ['g++', m.gxx],
      ['ninja', m.ninja],
      ['make', m.make],
    ]),
    '',
  ];
  for (const key of Object.keys(SECTION_TITLES)) {
    const s = r.sections[key] ?? { title: SECTION_TITLES[key], status: 'not measured: section did not run' };
    lines.push(renderSection(key, { ...s, title: SECTION_TITLES[key] }));
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ main

export async function main(argv: string[]): Promise<number> {
  // The sharded build against a local nginx: its own mode and results file (bench/remote.ts).
  if (argv.includes('--remote')) return (await import('./remote.js')).main(argv);
  const { cfg, out, only, keep } = configFrom(argv, process.env);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const t0 = performance.now();
  const results: Results = { machine: machineInfo(), config: cfg, startedAt: new Date().toISOString(), sections: {} };
  // With --only, the sections not selected keep what the last run measured (they are not lost).
  if (only && existsSync(path.join(out, 'results.json'))) {
    const prev = JSON.parse(await fsp.readFile(path.join(out, 'results.json'), 'utf8')) as Results;
    for (const [k, v] of Object.entries(prev.sections ?? {})) if (!only.has(k)) results.sections[k] = v;
  }
  log(`mode ${cfg.mode}, scale ${cfg.scale}, ${cfg.jobs} CPUs, load ${results.machine.loadAvgStart.join(' ')}`);
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-bench-'));
  log(`work dir ${work}`);
  const want = (k: string) => !only || only.has(k);
  const write = async () => {
    results.machine.loadAvgEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
    results.totalMs = performance.now() - t0;
    for (const k of Object.keys(SECTION_TITLES)) {
      results.sections[k] ??= { title: SECTION_TITLES[k], status: only && !only.has(k) ? 'skipped: not selected (--only)' : 'not measured: section did not run' };
      results.sections[k].title = SECTION_TITLES[k];
    }
    await fsp.mkdir(out, { recursive: true });
    await fsp.writeFile(path.join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    await fsp.writeFile(path.join(out, 'results.md'), renderMarkdown(results));
  };
  const section = async (key: string, fn: () => Promise<Section>) => {
    if (!want(key)) return;
    const ts = performance.now();
    try {
      results.sections[key] = { ...(await fn()), title: SECTION_TITLES[key] };
    } catch (err) {
      log(`${key} failed: ${(err as Error).stack ?? err}`);
      results.sections[key] = { title: SECTION_TITLES[key], status: `not measured: error: ${String((err as Error).message ?? err).split('\n').slice(0, 4).join(' | ').slice(0, 600)}` };
    }
    (results.sections[key] as any).sectionMs = Math.round(performance.now() - ts);
    log(`${key}: ${results.sections[key].status} (${fmtMs(performance.now() - ts)})`);
    await write();
  };

  try {
    // 1. workloads
    const tg = performance.now();
    const smallProgs = generatePrograms(cfg.small, cfg.seed);
    const largeProgs = cfg.large ? generatePrograms(cfg.large, cfg.seed) : [];
    const genMs = performance.now() - tg;
    const corpus: { name: string; source: string }[] = [];
    if (cfg.corpus) {
      for (const f of (await fsp.readdir(path.join(REPO, 'sources'))).filter((x) => x.endsWith('.cpp')).sort()) {
        corpus.push({ name: f.slice(0, -4), source: await fsp.readFile(path.join(REPO, 'sources', f), 'utf8') });
      }
    }
    const byHeader = (ps: Program[]) => HEADERS.map((h) => `${h} ${ps.filter((p) => p.header === h).length}`).join(', ');
    const bytes = (ps: { source: string }[]) => ps.reduce((a, p) => a + p.source.length, 0);
    await section('workloads', async () => ({
      title: '', status: 'measured',
      workloads: [
        { name: `synthetic C++ (seed ${cfg.seed})`, items: cfg.small, details: `first headers: ${byHeader(smallProgs)}; ${bytes(smallProgs)} bytes; generated in ${fmtMs(genMs)} (with the large set)` },
        ...(cfg.large ? [{ name: `synthetic C++ (seed ${cfg.seed}), large`, items: cfg.large, details: `first headers: ${byHeader(largeProgs)}; ${bytes(largeProgs)} bytes` }] : []),
        ...(cfg.corpus ? [{ name: 'bundled corpus (sources/*.cpp)', items: corpus.length, details: `${bytes(corpus)} bytes` }] : []),
        { name: 'cheap command items (cp "$IN" "$OUT")', items: cfg.items, details: 'small generated text files (60–200 bytes); cold + no-op builds, peak RSS' },
        { name: 'cheap command items, --dry-run only', items: cfg.dryItems, details: 'graph size / peak RSS' },
      ],
    }));

    const rss: Record<string, unknown> = { method: HAVE_GNU_TIME ? 'GNU time (`/usr/bin/time -f %M`, max RSS of the process)' : 'VmHWM polled from /proc/<pid>/status every 20 ms' };
    let small: CxxSetup | undefined;
    let large: CxxSetup | undefined;
    if (want('coldSmall') || want('edit') || (want('restore') && !cfg.large)) {
      small = await setupCxx(work, `small-${cfg.small}`, smallProgs, true);
    }
    await section('coldDefault', async () => {
      const repoCorpus: { name: string; source: string }[] = [];
      for (const f of (await fsp.readdir(path.join(REPO, 'sources'))).filter((x) => x.endsWith('.cpp')).sort()) {
        repoCorpus.push({ name: f.slice(0, -4), source: await fsp.readFile(path.join(REPO, 'sources', f), 'utf8') });
      }
      const cases: Section[] = [];
      const one = async (label: string, progs: { name: string; source: string }[], fromRepo: boolean) => {
        try {
          cases.push(await coldDefaultSection(work, label, progs, fromRepo, cfg.defaultPairs, cfg.jobs));
        } catch (err) {
          cases.push({ title: '', label, status: `not measured: ${String((err as Error).message).split('\n')[0]}` });
        }
      };
      // --quick: the first 10 programs of the corpus, one pair (the smoke test's size).
      await one(cfg.mode === 'quick' ? 'bundled corpus, first 10 programs' : 'bundled corpus', cfg.mode === 'quick' ? repoCorpus.slice(0, 10) : repoCorpus, true);
      if (cfg.small >= 200) await one(`${cfg.small} generated programs`, smallProgs, false);
      return { title: '', status: 'measured', cases };
    });
    await section('coldSmall', () => coldSection(small!, cfg.smallRuns, cfg.defaultRuns, cfg.jobs));
    await section('edit', async () => {
      if (!small) throw new Error('no small project');
      return editSection(small, cfg.editRuns, cfg.jobs);
    });
    // 3 + 7: the cheap command pipeline (no-op, cold RSS) and the big --dry-run graph.
    await section('noop', () => noopSection(work, cfg.items, cfg.runs, cfg.jobs, rss));
    if (want('rss')) {
      await dryRunRss(work, cfg.dryItems, rss).catch((err) => {
        rss.dryRunReason = `not measured: ${(err as Error).message.split('\n')[0]}`;
      });
      if (!rss.build10k) rss.build10kReason = want('noop') ? 'not measured: the no-op section failed' : 'not measured: run with the noop section';
      results.sections.rss = { title: SECTION_TITLES.rss, status: 'measured', ...rss };
      await write();
    }
    await section('hash', () => hashSection(work, cfg.hashMB, cfg.runs));
    await section('sandbox', () => sandboxOverheadSection(Math.max(5, cfg.runs * 4), REPO));
    let watchFirst: Section | undefined;
    if (want('watch')) {
      await section('watch', () => watchSection(work, generatePrograms(cfg.watchPrograms, cfg.seed + 1), cfg.watchEdits));
      watchFirst = results.sections.watch;
    }
    if (cfg.corpus) {
      await section('coldCorpus', async () => coldSection(await setupCxx(work, 'corpus', corpus, false), 1, 0, cfg.jobs));
    } else if (want('coldCorpus')) {
      results.sections.coldCorpus = { title: SECTION_TITLES.coldCorpus, status: `skipped: ${cfg.mode} mode (run without --quick)` };
    }
    if (cfg.large) {
      if (want('coldLarge') || want('restore')) large = await setupCxx(work, `large-${cfg.large}`, largeProgs, false);
      await section('coldLarge', async () => {
        const s = await coldSection(large!, cfg.largeRuns, 0, cfg.jobs);
        if (s.peakRssKB) rss.cold2000 = { programs: cfg.large, rssKB: s.peakRssKB };
        if (results.sections.rss) Object.assign(results.sections.rss, { cold2000: rss.cold2000 });
        return s;
      });
      await section('restore', () => restoreSection(large!, cfg.runs));
    } else {
      if (want('coldLarge')) results.sections.coldLarge = { title: SECTION_TITLES.coldLarge, status: `skipped: ${cfg.mode} mode (no large project)` };
      await section('restore', () => restoreSection(small!, cfg.runs));
    }
    await section('yield', async () => {
      const corpora = (process.env.BENCH_CORPUS ?? path.join(REPO, 'sources')).split(',').filter(Boolean);
      const sample = process.env.BENCH_CORPUS_SAMPLE ? Number(process.env.BENCH_CORPUS_SAMPLE) : cfg.mode === 'quick' ? 3 : undefined;
      const measured: YieldCorpus[] = [];
      for (const c of corpora) measured.push(await measureYield(REPO, CLI, work, c, cfg.jobs, sample));
      const when = `Measured ${new Date().toISOString().slice(0, 16)}Z, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' / ')} at the end.`;
      const before = '"before" is the pipeline as it was (-O0 only, the older cleaning filters, no header inlining, no output limit), run by this code over the same cache; "after" is the default pipeline.yaml.';
      return { title: SECTION_TITLES.yield, status: 'measured', corpora: measured, note: `${sample ? `At most ${sample} programs per corpus (BENCH_CORPUS_SAMPLE), every k-th by path. ` : ''}${before} ${when}` };
    });
    // Watch mode is the newest piece: if it did not work at first, try once more at the end.
    if (watchFirst && watchFirst.status !== 'measured') {
      log('watch: retrying at the end');
      await section('watch', () => watchSection(work, generatePrograms(cfg.watchPrograms, cfg.seed + 2), cfg.watchEdits));
    }
  } finally {
    await write();
    if (keep) log(`kept work dir ${work}`);
    else await fsp.rm(work, { recursive: true, force: true }).catch(() => {});
  }
  log(`wrote ${path.join(out, 'results.md')} and results.json in ${fmtMs(performance.now() - t0)}`);
  return 0;
}

const invokedDirectly = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (c) => (process.exitCode = c),
    (err) => {
      process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}

export type { Stat };
