/** Benchmark plumbing: timing child processes, peak RSS, statistics, machine facts. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
  samples: number[];
}

export function stat(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { median, min: s[0] ?? NaN, max: s[n - 1] ?? NaN, n, samples };
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1];
}

export interface Timed {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size in KiB (only when asked for). */
  rssKB?: number;
  /** User + system CPU of the process and the children it waited for (GNU time only). */
  cpuMs?: number;
}

export const HAVE_GNU_TIME = existsSync('/usr/bin/time');

export interface RunOpts {
  cwd: string;
  env?: Record<string, string>;
  /** Measure peak RSS (GNU time's %M, else VmHWM polled from /proc). */
  rss?: boolean;
  /** Keep only the last this-many characters of stdout (for huge NDJSON streams). */
  tailStdout?: number;
  /** Throw when the exit code is not 0 (default true). */
  check?: boolean;
}

/** Runs a command to completion and measures its wall time (spawn → exit). */
export async function timed(cmd: string, args: string[], o: RunOpts): Promise<Timed> {
  let rssFile: string | undefined;
  let argv = [cmd, ...args];
  if (HAVE_GNU_TIME) {
    rssFile = path.join(os.tmpdir(), `bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
    argv = ['/usr/bin/time', '-f', '%M %U %S', '-o', rssFile, ...argv];
  }
  const tail = o.tailStdout ?? 4 * 1024 * 1024;
  const t0 = performance.now();
  const child = spawn(argv[0], argv.slice(1), { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let hwm = 0;
  let poll: NodeJS.Timeout | undefined;
  if (o.rss && !HAVE_GNU_TIME) {
    poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, Number(m[1]));
      } catch {
        /* exited */
      }
    }, 20);
  }
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
    if (stdout.length > 2 * tail) stdout = stdout.slice(-tail);
  });
  child.stderr.on('data', (d: string) => {
    stderr += d;
    if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  const ms = performance.now() - t0;
  if (poll) clearInterval(poll);
  let rssKB: number | undefined;
  let cpuMs: number | undefined;
  if (rssFile) {
    const text = await fsp.readFile(rssFile, 'utf8').catch(() => '');
    const lines = text.trim().split('\n');
    const [m, u, sys] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
    if (o.rss) rssKB = m || undefined;
    if (Number.isFinite(u) && Number.isFinite(sys)) cpuMs = (u + sys) * 1000;
    await fsp.rm(rssFile, { force: true });
  } else if (o.rss) rssKB = hwm || undefined;
  if (stdout.length > tail) stdout = stdout.slice(-tail);
  const r = { ms, code, stdout, stderr, rssKB, cpuMs };
  if ((o.check ?? true) && code !== 0) {
    throw new Error(`${argv.join(' ')} (in ${o.cwd}) exited with ${code}\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`);
  }
  return r;
}

export function sh(cmd: string, cwd = process.cwd()): string {
  const r = spawnSync('bash', ['-c', cmd], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return (r.stdout ?? '').trim();
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memTotalMB: number;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
  node: string;
  gxx: string;
  ninja: string;
  make: string;
  kernel: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memTotalMB: Math.round(os.totalmem() / 1024 / 1024),
    loadAvgStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    gxx: sh('g++ --version | head -1') || 'missing',
    ninja: sh('ninja --version') || 'missing',
    make: sh('make --version | head -1') || 'missing',
    kernel: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
  };
}

/** The last JSON line of an NDJSON stream whose `type` is `type`. */
export function lastEvent(ndjson: string, type: string): Record<string, any> | undefined {
  const lines = ndjson.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i];
    if (!l.startsWith('{')) continue;
    try {
      const e = JSON.parse(l) as Record<string, any>;
      if (e.type === type) return e;
    } catch {
      /* a cut-off first line */
    }
  }
  return undefined;
}

export const fmtMs = (ms: number): string =>
  !Number.isFinite(ms) ? 'n/a' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;

export const fmtStat = (s: Stat | undefined, f: (x: number) => string = fmtMs): string =>
  !s || !s.n ? 'n/a' : s.n === 1 ? `${f(s.median)} (1 run)` : `${f(s.median)} (min ${f(s.min)}, max ${f(s.max)}, n=${s.n})`;

export const fmtRatio = (s: Stat | undefined): string =>
  !s || !s.n ? 'n/a' : s.n === 1 ? `${s.median.toFixed(2)}×` : `${s.median.toFixed(2)}× (min ${s.min.toFixed(2)}, max ${s.max.toFixed(2)})`;

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
