/**
 * `npm run bench -- --remote`: the sharded build against the local nginx (bench/nginx.ts).
 *
 *   node dist/bench/run.js --remote [--programs N] [--quick] [--out DIR] [--seed N]
 *
 * On the generated C++ set (default 2,000 programs; --quick: 20): a cold build in one process
 * (no remote), then the same cold build split over 2 shard processes running at once, each with
 * its own empty local cache, uploading to nginx, and then the gather run (an empty local cache,
 * every per-item result downloaded). Checks that the gather run executed nothing and that its
 * build/ is byte-identical to the one-process build's. Writes remote-results.md/.json in --out
 * (default bench/). Each shard gets half the CPUs (-j), as the one process gets all of them: on
 * one machine the shards share its cores, so the figure is the cost of splitting (protocol, and
 * each shard's own precompiled headers), not a speedup.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { generatePrograms } from './gen-programs.js';
import { startNginx } from './nginx.js';
import { writeCxxProject } from './peers.js';
import { fmtMs, lastEvent, log, machineInfo, timed, type Timed } from './util.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(REPO, 'dist', 'src', 'cli.js');

interface Run {
  ms: number;
  executed: number;
  cached: number;
  total: number;
  warnings: string[];
}

async function ours(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const r: Timed = await timed(process.execPath, [CLI, '--json', ...args], { cwd, env, check: false, tailStdout: 64 << 20 });
  const summary = lastEvent(r.stdout, 'build-done')?.summary;
  if (!summary || !summary.ok) throw new Error(`asmgraph ${args.join(' ')} in ${cwd}: exit ${r.code}\n${r.stderr.slice(-3000)}${JSON.stringify(summary?.failed ?? '').slice(0, 1000)}`);
  const warnings = r.stdout.split('\n').filter((l) => l.startsWith('{"type":"warning"')).map((l) => String(JSON.parse(l).message));
  return { ms: r.ms, executed: summary.executed, cached: summary.cached, total: summary.total, warnings };
}

async function tree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(path.relative(dir, p), await fsp.readFile(p));
    }
  };
  await walk(dir);
  return out;
}

function identical(a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) return false;
  return true;
}

export async function main(argv: string[]): Promise<number> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const n = Number(arg('--programs') ?? (argv.includes('--quick') ? 20 : 2000));
  const seed = Number(arg('--seed') ?? 1);
  const out = path.resolve(arg('--out') ?? path.join(REPO, 'bench'));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p .\` first`);
  const cpus = os.availableParallelism();
  const half = Math.max(1, Math.floor(cpus / 2));
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-bench-remote-'));
  const token = randomBytes(16).toString('hex');
  const server = await startNginx(token);
  const t0 = performance.now();
  try {
    const programs = generatePrograms(n, seed);
    const dirs = { single: path.join(work, 'single'), s1: path.join(work, 'shard1'), s2: path.join(work, 'shard2'), gather: path.join(work, 'gather') };
    for (const d of Object.values(dirs)) {
      await writeCxxProject(d, REPO, programs, { nondeterminism: false });
      await fsp.chmod(d, 0o755);
    }
    log(`remote: ${n} programs, ${cpus} CPUs; nginx at ${server.url}`);
    const single = await ours(dirs.single, ['-j', String(cpus)]);
    log(`remote: one process ${fmtMs(single.ms)}`);
    const env = { ASMGRAPH_REMOTE_TOKEN: token };
    const ts = performance.now();
    const [s1, s2] = await Promise.all([
      ours(dirs.s1, ['-j', String(half), '--remote-cache', server.url, '--shard', '1/2'], env),
      ours(dirs.s2, ['-j', String(half), '--remote-cache', server.url, '--shard', '2/2'], env),
    ]);
    const shardsMs = performance.now() - ts;
    log(`remote: 2 shards ${fmtMs(shardsMs)} (${fmtMs(s1.ms)}, ${fmtMs(s2.ms)})`);
    const gather = await ours(dirs.gather, ['-j', String(cpus), '--remote-cache', server.url], env);
    log(`remote: gather ${fmtMs(gather.ms)}`);
    const same = identical(await tree(path.join(dirs.single, 'build')), await tree(path.join(dirs.gather, 'build')));
    const serverFiles = (await fsp.readdir(path.join(server.root, 'ac')).catch(() => [])).length;
    const results = {
      machine: machineInfo(),
      programs: n,
      seed,
      cpus,
      onePassMs: Math.round(single.ms),
      shards: { wallMs: Math.round(shardsMs), jobsEach: half, shard1: { ms: Math.round(s1.ms), executed: s1.executed }, shard2: { ms: Math.round(s2.ms), executed: s2.executed } },
      gather: { ms: Math.round(gather.ms), executed: gather.executed, cached: gather.cached, total: gather.total },
      serverRecords: serverFiles,
      buildIdentical: same,
      warnings: [...s1.warnings, ...s2.warnings, ...gather.warnings],
      totalMs: Math.round(performance.now() - t0),
    };
    const md = [
      '# Sharded build against a local nginx remote cache',
      '',
      `Generated by \`npm run bench -- --remote\` (bench/remote.ts) on ${results.machine.date}; ${n} generated programs (seed ${seed}), compile + validate, ${cpus} CPUs.`,
      '',
      '| run | wall time | executed | restored |',
      '|---|---|---|---|',
      `| one process, no remote (-j ${cpus}) | ${fmtMs(single.ms)} | ${single.executed} | ${single.cached} |`,
      `| 2 shard processes at once (-j ${half} each), uploading | ${fmtMs(shardsMs)} | ${s1.executed} + ${s2.executed} | ${s1.cached + s2.cached} |`,
      `| gather run, empty local cache (-j ${cpus}) | ${fmtMs(gather.ms)} | ${gather.executed} | ${gather.cached} |`,
      '',
      `Gather build/ byte-identical to the one-process build: **${same ? 'yes' : 'NO'}**; records on the server: ${serverFiles}; warnings: ${results.warnings.length ? results.warnings.join('; ') : 'none'}.`,
      '',
      `Load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}. On one machine the two shards share its cores, so their wall time against the single process is not a speedup but the cost of splitting: the protocol (a HEAD, and a PUT for each missing blob, a record per node) and the per-machine helper artifacts (each shard builds its own precompiled headers, which stay in its local cache); on N machines each shard has its own cores.`,
      '',
    ].join('\n');
    await fsp.mkdir(out, { recursive: true });
    await fsp.writeFile(path.join(out, 'remote-results.json'), `${JSON.stringify(results, null, 2)}\n`);
    await fsp.writeFile(path.join(out, 'remote-results.md'), md);
    log(`remote: wrote ${path.join(out, 'remote-results.md')}`);
    return same && gather.executed === 0 ? 0 : 1;
  } finally {
    await server.stop();
    await fsp.rm(work, { recursive: true, force: true });
  }
}
