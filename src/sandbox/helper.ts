/**
 * The in-sandbox supervisor ("sandbox-exec"): a tiny static C program that bubblewrap starts as
 * the sandbox's first process (PID 2, bwrap's reaper is PID 1). It
 *   - applies the resource limits *after* the user namespace exists (so RLIMIT_NPROC is counted
 *     per namespace, see index.ts) and only to the program, not to bwrap;
 *   - forks, resets signal dispositions/mask, closes every fd but 0-2, and execs the program;
 *   - waits for it and reports the exact wait status plus its CPU time on a pipe, because
 *     bwrap itself folds "killed by signal N" and "exit(128+N)" into the same exit code;
 *   - exits with the mirrored status; bwrap's PID 1 then exits and the kernel kills everything
 *     left in the PID namespace (daemons, fork-bomb leftovers).
 * It is compiled once per source hash with the host C compiler and cached (see ensureHelper).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const execFileP = promisify(execFile);

export const HELPER_SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "asmgraph-sandbox: %s: %s\n", what, strerror(errno));
  _exit(125);
}

static rlim_t num(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end) { fprintf(stderr, "asmgraph-sandbox: bad number '%s'\n", s); _exit(125); }
  return (rlim_t)v;
}

static void limit(int res, rlim_t soft, rlim_t hard) {
  struct rlimit l = { soft, hard };
  if (setrlimit(res, &l) != 0) die("setrlimit");
}

/* argv: STATUS_FD CPU_S AS_BYTES FSIZE_BYTES NOFILE NPROC -- PROGRAM ARGS... */
int main(int argc, char **argv) {
  if (argc < 9 || strcmp(argv[7], "--") != 0) {
    fprintf(stderr, "asmgraph-sandbox: usage: STATUS_FD CPU AS FSIZE NOFILE NPROC -- PROGRAM...\n");
    return 125;
  }
  int sfd = (int)num(argv[1]);
  rlim_t cpu = num(argv[2]), as = num(argv[3]), fsize = num(argv[4]);
  rlim_t nofile = num(argv[5]), nproc = num(argv[6]);

  /* Not dumpable: the program (same uid) cannot read our /proc/PID/fd or ptrace us. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (fcntl(sfd, F_SETFD, FD_CLOEXEC) != 0) die("status fd");
  if (sfd > 3) syscall(SYS_close_range, 3U, (unsigned)sfd - 1U, 0U);
  syscall(SYS_close_range, (unsigned)sfd + 1U, ~0U, 0U);

  limit(RLIMIT_CORE, 0, 0);
  /* +2: bwrap's PID 1 and this supervisor run under the same uid in this namespace. */
  limit(RLIMIT_NPROC, nproc + 2, nproc + 2);

  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    /* soft = CPU -> SIGXCPU; hard one second later -> SIGKILL if SIGXCPU is caught. */
    limit(RLIMIT_CPU, cpu, cpu + 1);
    limit(RLIMIT_AS, as, as);
    limit(RLIMIT_FSIZE, fsize, fsize);
    limit(RLIMIT_NOFILE, nofile, nofile);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    execvp(argv[8], argv + 8);
    int e = errno;
    dprintf(sfd, "E %d 0\n", e);
    fprintf(stderr, "asmgraph-sandbox: cannot execute %s: %s\n", argv[8], strerror(e));
    _exit(127);
  }
  int st;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0) {
    if (errno != EINTR) die("wait4");
  }
  long long cpu_ms = (long long)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
                     (long long)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
  if (WIFEXITED(st)) {
    dprintf(sfd, "X %d %lld\n", WEXITSTATUS(st), cpu_ms);
    return WEXITSTATUS(st);
  }
  if (WIFSIGNALED(st)) {
    dprintf(sfd, "S %d %lld\n", WTERMSIG(st), cpu_ms);
    return 128 + WTERMSIG(st);
  }
  return 125;
}
`;

export const HELPER_HASH = createHash('sha256').update(HELPER_SOURCE).digest('hex').slice(0, 16);

let helperPromise: Promise<string> | undefined;

/** Compile (once per process, cached on disk per source hash) and return the helper's path. */
export function ensureHelper(cc: string): Promise<string> {
  helperPromise ??= buildHelper(cc).catch((e: unknown) => {
    helperPromise = undefined;
    throw e;
  });
  return helperPromise;
}

/**
 * The cache dir: ours, a real directory, not group/other writable. It must be world-searchable
 * (0755): bwrap resolves the bind source as the sandbox uid, even for --ro-bind-fd.
 */
let helperDir: string | undefined;

/** Where the compiled supervisor is cached (the engine points it into the project's cache/). */
export function setHelperDir(dir: string): void {
  helperDir = dir;
}

function privateCacheDir(): string {
  const uid = process.getuid?.() ?? 0;
  const dir = helperDir ?? path.join(os.tmpdir(), `asmgraph-sandbox-${uid}`);
  try {
    if (helperDir) fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new Error(`sandbox: refusing to use helper cache dir ${dir} (not a directory owned by uid ${uid} and writable only by it)`);
  }
  return dir;
}

async function buildHelper(cc: string): Promise<string> {
  const dir = privateCacheDir();
  const exe = path.join(dir, `sandbox-exec-${HELPER_HASH}`);
  if (fs.existsSync(exe)) return exe;
  const tmpBase = path.join(dir, `build-${process.pid}-${Date.now()}`);
  fs.writeFileSync(`${tmpBase}.c`, HELPER_SOURCE);
  try {
    // Static: no dynamic loader work inside the sandbox, and LD_PRELOAD (faketime) cannot touch it.
    await execFileP(cc, ['-O2', '-static', '-o', tmpBase, `${tmpBase}.c`]).catch(async () =>
      execFileP(cc, ['-O2', '-o', tmpBase, `${tmpBase}.c`]),
    );
    fs.chmodSync(tmpBase, 0o755);
    fs.renameSync(tmpBase, exe); // atomic: concurrent builders just overwrite with identical bytes
  } finally {
    fs.rmSync(`${tmpBase}.c`, { force: true });
    fs.rmSync(tmpBase, { force: true });
  }
  return exe;
}
