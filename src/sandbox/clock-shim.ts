/**
 * The CPU-clock shim: a small shared library preloaded (before libfaketime) into runs that ask for
 * a stepped clock. libfaketime's `i` mode makes every wall-clock and monotonic read advance the
 * fake time by a fixed step, but it leaves the process CPU clock alone: `clock()` and
 * `clock_gettime(CLOCK_PROCESS_CPUTIME_ID / CLOCK_THREAD_CPUTIME_ID)` would still report real,
 * run-to-run varying CPU time. The shim answers those from a counter that advances by a fixed
 * number of nanoseconds per call, read from `$HOME/.asmgraph-clockrc`, so a program that prints its
 * CPU time prints the same thing on every run at one step and something else at another step (the
 * nondeterminism check runs at two). Every other clock goes on to libfaketime (RTLD_NEXT).
 * Built once per source hash with the host C compiler, cached beside the supervisor.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { helperCacheDir } from './helper.js';

const execFileP = promisify(execFile);

export const CLOCK_SHIM_SOURCE = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long step_ns = -1;
static long long cpu_ns = 0;

static void init(void) {
  if (step_ns >= 0) return;
  step_ns = 1000000;
  const char *home = getenv("HOME");
  if (!home) return;
  char path[512];
  size_t n = 0;
  while (home[n] && n < 400) { path[n] = home[n]; n++; }
  const char *tail = "/.asmgraph-clockrc";
  for (size_t i = 0; tail[i]; i++) path[n++] = tail[i];
  path[n] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[32];
  ssize_t k = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (k <= 0) return;
  buf[k] = 0;
  step_ns = atoll(buf);
}

static long long tick(void) {
  init();
  cpu_ns += step_ns;
  return cpu_ns;
}

clock_t clock(void) {
  return (clock_t)(tick() / (1000000000LL / CLOCKS_PER_SEC));
}

int clock_gettime(clockid_t id, struct timespec *ts) {
  if (id == CLOCK_PROCESS_CPUTIME_ID || id == CLOCK_THREAD_CPUTIME_ID) {
    long long t = tick();
    ts->tv_sec = (time_t)(t / 1000000000LL);
    ts->tv_nsec = (long)(t % 1000000000LL);
    return 0;
  }
  static int (*next)(clockid_t, struct timespec *);
  if (!next) next = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
  return next(id, ts);
}
`;

export const CLOCK_SHIM_HASH = createHash('sha256').update(CLOCK_SHIM_SOURCE).digest('hex').slice(0, 16);

/** Compiles the shim into `dir` (see helperCacheDir) unless it is there already; returns its path. */
export async function ensureClockShim(cc: string, dir: string | undefined): Promise<string> {
  return buildShim(cc, helperCacheDir(dir));
}

async function buildShim(cc: string, dir: string): Promise<string> {
  const so = path.join(dir, `clock-shim-${CLOCK_SHIM_HASH}.so`);
  if (fs.existsSync(so)) return so;
  const tmpBase = path.join(dir, `build-shim-${process.pid}-${Date.now()}`);
  fs.writeFileSync(`${tmpBase}.c`, CLOCK_SHIM_SOURCE);
  try {
    await execFileP(cc, ['-O2', '-shared', '-fPIC', '-o', tmpBase, `${tmpBase}.c`, '-ldl']);
    fs.chmodSync(tmpBase, 0o755);
    fs.renameSync(tmpBase, so);
  } finally {
    fs.rmSync(`${tmpBase}.c`, { force: true });
    fs.rmSync(tmpBase, { force: true });
  }
  return so;
}
