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
 * It is compiled once per source hash with the host C compiler and cached (see ensureHelper); the
 * sandbox that uses it (index.ts) remembers the path, so that happens once per sandbox.
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* True when a thread of pid sits in read/readv on fd 0 (from /proc/PID/task/TID/syscall). */
static int thread_reading_stdin(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d) return 0;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char p2[128], buf[256];
    snprintf(p2, sizeof p2, "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
    int fd = open(p2, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    long nr;
    unsigned long a0;
    if (sscanf(buf, "%ld 0x%lx", &nr, &a0) == 2 && a0 == 0 && (nr == SYS_read || nr == SYS_readv)) found = 1;
  }
  closedir(d);
  return found;
}

/*
 * True when the program, or a process it started (this /proc is the sandbox's own PID namespace:
 * only bwrap's init, this supervisor and the program's processes), is reading fd 0.
 */
static int reading_stdin(pid_t pid) {
  if (thread_reading_stdin(pid)) return 1;
  DIR *d = opendir("/proc");
  if (!d) return 0;
  int found = 0;
  struct dirent *e;
  pid_t self = getpid();
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t p = (pid_t)atoi(e->d_name);
    if (p == 1 || p == self || p == pid) continue;
    found = thread_reading_stdin(p);
  }
  closedir(d);
  return found;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return; }
    p += w; n -= (size_t)w;
  }
}

/* Forwards what the program wrote to stdout; returns bytes forwarded, 0 at EOF, -1 if none now. */
static long long pump_out(int from) {
  static char b[65536];
  ssize_t n = read(from, b, sizeof b);
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? -1 : 0;
  if (n > 0) write_all(1, b, (size_t)n);
  return n;
}

/*
 * argv: STATUS_FD CPU_S AS_BYTES FSIZE_BYTES NOFILE NPROC -- PROGRAM ARGS...
 *
 * The program's stdin and stdout are pipes this supervisor holds the other ends of: it copies the
 * caller's input (its own fd 0) into the program's stdin, keeps that pipe open after the last
 * byte, and forwards the program's stdout to its own fd 1, counting bytes. When all input has been
 * delivered and read, the pipe is empty and a thread of the program sits in read(0, ...), the
 * program is waiting for more input: it reports "W <bytes read> <stdout bytes so far>" on the
 * status pipe and closes the pipe (end of input). At the end: "X code cpu_ms" or "S signal cpu_ms".
 */
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

  int inp[2], outp[2];
  if (pipe2(inp, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) die("pipe");

  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    if (dup2(inp[0], 0) < 0 || dup2(outp[1], 1) < 0) die("dup2");
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
  close(inp[0]);
  close(outp[1]);
  signal(SIGPIPE, SIG_IGN);
  int in_w = inp[1], out_r = outp[0];
  fcntl(in_w, F_SETFL, O_NONBLOCK);
  fcntl(out_r, F_SETFL, O_NONBLOCK);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

  static char ibuf[65536];
  size_t ilen = 0, ioff = 0;
  int in_open = 1;
  long long fed = 0, out_bytes = 0;
  int st = 0;
  struct rusage ru;
  for (;;) {
    struct pollfd fds[4];
    int n = 0, i_in = -1, i_w = -1, i_out = -1;
    if (in_open && ilen == ioff) { fds[n].fd = 0; fds[n].events = POLLIN; i_in = n++; }
    if (in_w >= 0 && ilen > ioff) { fds[n].fd = in_w; fds[n].events = POLLOUT; i_w = n++; }
    if (out_r >= 0) { fds[n].fd = out_r; fds[n].events = POLLIN; i_out = n++; }
    if (pidfd >= 0) { fds[n].fd = pidfd; fds[n].events = POLLIN; n++; }
    int r = poll(fds, (nfds_t)n, pidfd >= 0 && !(in_w >= 0 && !in_open && ilen == ioff) ? -1 : 5);
    if (r < 0 && errno != EINTR) die("poll");
    if (r > 0 && i_in >= 0 && fds[i_in].revents) {
      ssize_t k = read(0, ibuf, sizeof ibuf);
      if (k > 0) { ilen = (size_t)k; ioff = 0; }
      else if (k == 0 || (errno != EINTR && errno != EAGAIN)) { in_open = 0; close(0); }
    }
    if (r > 0 && i_w >= 0 && fds[i_w].revents) {
      ssize_t k = write(in_w, ibuf + ioff, ilen - ioff);
      if (k > 0) { ioff += (size_t)k; fed += k; }
      else if (k < 0 && errno != EAGAIN && errno != EINTR) { close(in_w); in_w = -1; ilen = ioff = 0; }
    }
    if (ilen == ioff) ilen = ioff = 0;
    if (r > 0 && i_out >= 0 && fds[i_out].revents) {
      long long k = pump_out(out_r);
      if (k > 0) out_bytes += k;
      else if (k == 0) { close(out_r); out_r = -1; }
    }
    pid_t w = wait4(pid, &st, WNOHANG, &ru);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) die("wait4");
    /* All input delivered and read, and the program blocks reading more: give it end of input. */
    if (in_w >= 0 && !in_open && ilen == 0 && r == 0) {
      int avail = -1;
      if (ioctl(in_w, FIONREAD, &avail) == 0 && avail == 0 && reading_stdin(pid)) {
        if (out_r >= 0) {
          long long k;
          while ((k = pump_out(out_r)) > 0) out_bytes += k;
        }
        dprintf(sfd, "W %lld %lld\n", fed, out_bytes);
        close(in_w);
        in_w = -1;
      }
    }
  }
  if (out_r >= 0) {
    long long k;
    while ((k = pump_out(out_r)) > 0) out_bytes += k;
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

/**
 * The folder the supervisor (and the clock shim) is compiled into: `dir` when given (the project's
 * `cache/sandbox`), else a private folder under the system temp dir. It must be ours, a real
 * directory, not group/other writable, and world-searchable (0755): bwrap resolves the bind
 * source as the sandbox uid, even for --ro-bind-fd.
 */
export function helperCacheDir(dir: string | undefined): string {
  const uid = process.getuid?.() ?? 0;
  const d = dir ?? path.join(os.tmpdir(), `asmgraph-sandbox-${uid}`);
  try {
    if (dir) fs.mkdirSync(path.dirname(d), { recursive: true });
    fs.mkdirSync(d, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(d);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new Error(`sandbox: refusing to use helper cache dir ${d} (not a directory owned by uid ${uid} and writable only by it)`);
  }
  return d;
}

/** Compiles the supervisor into `dir` (see helperCacheDir) unless it is there already; returns its path. */
export async function ensureHelper(cc: string, dir: string | undefined): Promise<string> {
  return buildHelper(cc, helperCacheDir(dir));
}

async function buildHelper(cc: string, dir: string): Promise<string> {
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
