/**
 * Every validation verdict, each from a fixture program, through the real CLI: real g++, the
 * real sandbox. Hostile programs (fork bomb, 10 GB allocation, endless output, writes outside
 * its folder, a socket, reading the environment and ~/.ssh) are contained, and nothing escapes.
 */
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, REPO, runCli, summaryOf, type CliResult, toolchainFiles } from './support/cli.js';

const FIXTURES = path.join(REPO, 'test/fixtures/validate');
const MARKER = `m${process.pid}x${Date.now()}`;
/** A folder outside the project the program tries to write into: the checkout's parent. */
const OUTSIDE = path.dirname(path.resolve(import.meta.dirname, '..'));
const SECRET = `sk-test-${MARKER}-do-not-leak`;
/** This suite's sandboxes get their own uid range, so other suites' sandboxes are not counted. */
const UID_BASE = 64000;

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm: { kind: compile, from: programs }
  cleaned: { kind: compile, from: programs, params: { clean: true } }
  validated:
    kind: validate
    from: cleaned
    with: { raw: asm, source: programs }
    params: { timeoutMs: 2000 }

  # Assembly a compiler never writes, for the verdicts that need it.
  tamper-programs: { kind: files, params: { glob: "tamper/*.cpp" } }
  tamper-asm: { kind: compile, from: tamper-programs }
  tampered:
    kind: command
    from: tamper-asm
    params:
      outputs: { s: .s }
      run: |
        case "$ITEM" in
          mismatch) sed 's/hello 1 2 3/hello 1 3 2/' "$IN" > "$OUT" ;;
          assemble) { cat "$IN"; printf '\\tbogusinstruction %%rax\\n'; } > "$OUT" ;;
          link) { cat "$IN"; printf '\\t.text\\n\\t.globl extra\\nextra:\\n\\tcall missing_symbol_xyz@PLT\\n'; } > "$OUT" ;;
          nocfi) grep -v '^[[:space:]]*\\.cfi_' "$IN" > "$OUT" ;;
        esac
  tamper-validated:
    kind: validate
    from: tampered
    with: { source: tamper-programs }
    params: { timeoutMs: 2000 }
  tamper-fallback:
    kind: validate
    from: tampered
    with: { raw: tamper-asm, source: tamper-programs }
    params: { timeoutMs: 2000 }
`;

let dir = '';
let server: net.Server;
let connections = 0;
let build: CliResult;

function verdict(r: CliResult, id: string): { status: string; reason?: string; message?: string; outcome: string; meta?: Record<string, unknown> } {
  const e = r.events.find((x) => x.type === 'node-done' && x.id === id);
  if (!e) throw new Error(`no event for ${id}`);
  return e as never;
}

function sandboxProcesses(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (uid >= UID_BASE && uid < UID_BASE + 1000) found.push(`${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

beforeAll(async () => {
  server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE };
  for (const f of await fsp.readdir(FIXTURES)) {
    let text = await fsp.readFile(path.join(FIXTURES, f), 'utf8');
    text = text.replace(/MARKER/g, MARKER).replace(/\bPORT\b/, String(port)).replace(/\bOUTSIDE\b/g, OUTSIDE);
    files[`src/${f}`] = text;
  }
  const hello = await fsp.readFile(path.join(FIXTURES, 'ok_hello.cpp'), 'utf8');
  const exc = await fsp.readFile(path.join(FIXTURES, 'exceptions.cpp'), 'utf8');
  Object.assign(files, { 'tamper/mismatch.cpp': hello, 'tamper/assemble.cpp': hello, 'tamper/link.cpp': hello, 'tamper/nocfi.cpp': exc });
  Object.assign(files, await toolchainFiles());
  dir = await makeProject(files);
  build = await runCli(dir, ['--json', 'validated', 'tamper-validated', 'tamper-fallback'], { OPENAI_API_KEY: SECRET, ASMGRAPH_TEST_TOKEN: SECRET, ASMGRAPH_SANDBOX_UID_BASE: String(UID_BASE) });
}, 600_000);

afterAll(async () => {
  server?.close();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
  for (const p of [`/tmp/asmgraph-escape-${MARKER}`, `/root/asmgraph-escape-${MARKER}`, `${OUTSIDE}/asmgraph-escape-${MARKER}`]) await fsp.rm(p, { force: true });
});

describe('validation verdicts', () => {
  it('the build finishes: rejections are data, not failures', () => {
    expect(build.code, build.stderr).toBe(0);
    expect(summaryOf(build).failed).toEqual([]);
  });

  it('ok: output and exit code match the C++ program (exit code 3 included)', async () => {
    expect(verdict(build, 'validated/ok_hello')).toMatchObject({ status: 'ok', meta: { verdict: 'ok', variant: 'clean' } });
    expect(verdict(build, 'validated/exit_three')).toMatchObject({ status: 'ok' });
    expect(await fsp.readFile(path.join(dir, 'build/validated/ok_hello.expected.txt'), 'utf8')).toBe('hello 1 2 3\n');
    const s = await fsp.readFile(path.join(dir, 'build/validated/ok_hello.s'), 'utf8');
    expect(s).toContain('.note.GNU-stack');
    expect(s).not.toMatch(/^\s*\.file\s/m);
    expect(s).not.toMatch(/\/tmp|cache\/tmp/);
  });

  it('compile-error: rejected by compile, carried through validate with its reason', async () => {
    expect(verdict(build, 'asm/compile_error')).toMatchObject({ status: 'rejected', reason: 'compile-error', outcome: 'executed' });
    expect(verdict(build, 'validated/compile_error')).toMatchObject({ status: 'rejected', reason: 'compile-error', outcome: 'propagated' });
    expect(await fsp.readFile(path.join(dir, 'build/asm/compile_error.rejected.txt'), 'utf8')).toMatch(/.undeclared_name. was not declared/);
  });

  it('crash: a segfault is reported with its signal', () => {
    expect(verdict(build, 'validated/segfault')).toMatchObject({ status: 'rejected', reason: 'crash' });
    expect(verdict(build, 'validated/segfault').message).toMatch(/SIGSEGV/);
  });

  it('timeout: an endless loop is killed at the limit', () => {
    expect(verdict(build, 'validated/infinite_loop')).toMatchObject({ status: 'rejected', reason: 'timeout' });
  });

  it('output-too-large: endless output is capped and killed', () => {
    expect(verdict(build, 'validated/endless_output')).toMatchObject({ status: 'rejected', reason: 'output-too-large' });
  });

  it('nondeterministic: output that depends on the clock or on uninitialised memory', () => {
    expect(verdict(build, 'validated/uses_time')).toMatchObject({ status: 'rejected', reason: 'nondeterministic' });
    expect(verdict(build, 'validated/uninitialised')).toMatchObject({ status: 'rejected', reason: 'nondeterministic' });
    expect(verdict(build, 'validated/uninitialised').message).toMatch(/depends on uninitialised memory \(check: locals filled with a pattern/);
    expect(verdict(build, 'validated/uses_time').message).toMatch(/depends on the time \(check: clock start, rate/);
  });

  it('output-mismatch, assemble-error, link-error: from tampered assembly, with the tool\'s message', () => {
    const m = verdict(build, 'tamper-validated/mismatch');
    expect(m).toMatchObject({ status: 'rejected', reason: 'output-mismatch' });
    expect(m.message).toBe('line 1: expected "hello 1 2 3", got "hello 1 3 2"');
    expect(verdict(build, 'tamper-validated/assemble')).toMatchObject({ status: 'rejected', reason: 'assemble-error' });
    expect(verdict(build, 'tamper-validated/assemble').message).toMatch(/bogusinstruction/);
    expect(verdict(build, 'tamper-validated/link')).toMatchObject({ status: 'rejected', reason: 'link-error' });
    expect(verdict(build, 'tamper-validated/link').message).toMatch(/undefined reference to `missing_symbol_xyz'/);
  });

  it('a cleaned file that fails is refused and the raw one kept, with the reason recorded', () => {
    // Stripping .cfi_* from a program that throws breaks its exception handling.
    expect(verdict(build, 'tamper-validated/nocfi')).toMatchObject({ status: 'rejected', reason: 'crash' });
    expect(verdict(build, 'tamper-fallback/nocfi')).toMatchObject({ status: 'ok', meta: { verdict: 'ok', variant: 'raw', cleanRejected: 'crash' } });
    // The cleaner itself keeps .cfi_* for programs that use exceptions, so the real cleaned file passes.
    expect(verdict(build, 'validated/exceptions')).toMatchObject({ status: 'ok', meta: { variant: 'clean' } });
  });

  it('the rejected items are counted per reason in the summary', () => {
    const r = summaryOf(build).rejected;
    expect(r['compile-error']).toBe(1); // one program, rejected by asm and by cleaned: counted once
    expect(r.crash).toBeGreaterThanOrEqual(2);
    expect(r.nondeterministic).toBe(2);
    expect(r['output-mismatch']).toBe(1);
  });
});

describe('hostile programs are contained', () => {
  it('fork bomb: contained and classified; no sandbox process survives', async () => {
    expect(['timeout', 'crash']).toContain(verdict(build, 'validated/fork_bomb').reason);
    // Killed processes can take a moment to leave the process table: wait for that, boundedly.
    const deadline = Date.now() + 5000;
    while (sandboxProcesses().length && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(sandboxProcesses()).toEqual([]);
  });

  it('10 GB allocation: refused by the memory limit', async () => {
    expect(verdict(build, 'validated/huge_allocation')).toMatchObject({ status: 'ok' });
    expect(await fsp.readFile(path.join(dir, 'build/validated/huge_allocation.expected.txt'), 'utf8')).toBe('allocation refused\n');
  });

  it('writes outside its folder go nowhere; its own folder works', async () => {
    expect(await fsp.readFile(path.join(dir, 'build/validated/escape_writes.expected.txt'), 'utf8')).toBe('own file ok\n');
    for (const p of [`/tmp/asmgraph-escape-${MARKER}`, `/root/asmgraph-escape-${MARKER}`, `${OUTSIDE}/asmgraph-escape-${MARKER}`, path.join(dir, `asmgraph-escape-${MARKER}`)]) {
      await expect(fsp.access(p), p).rejects.toThrow();
    }
    const leftovers = await fsp.readdir(path.join(dir, 'cache/tmp'));
    expect(leftovers).toEqual([]);
  });

  it('a socket to a server on 127.0.0.1 fails; the server sees no connection', async () => {
    expect(await fsp.readFile(path.join(dir, 'build/validated/opens_socket.expected.txt'), 'utf8')).toBe('connect failed\n');
    expect(connections).toBe(0);
  });

  it('the environment is scrubbed: no key reaches the program, the outputs or the cache', async () => {
    const env = await fsp.readFile(path.join(dir, 'build/validated/reads_env.expected.txt'), 'utf8');
    expect(env).not.toContain(SECRET);
    expect(env).not.toMatch(/OPENAI_API_KEY|ASMGRAPH_TEST_TOKEN/);
    expect(env).toMatch(/^PATH=/m);
    const grep = async (root: string): Promise<string[]> => {
      const hits: string[] = [];
      const walk = async (d: string) => {
        for (const e of await fsp.readdir(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) await walk(p);
          else if (e.isFile() && (await fsp.readFile(p)).includes(SECRET)) hits.push(p);
        }
      };
      await walk(root);
      return hits;
    };
    expect(await grep(path.join(dir, 'build'))).toEqual([]);
    expect(await grep(path.join(dir, 'cache'))).toEqual([]);
    expect(build.stdout + build.stderr).not.toContain(SECRET);
  });

  it('~/.ssh is not readable', async () => {
    expect(await fsp.readFile(path.join(dir, 'build/validated/reads_ssh.expected.txt'), 'utf8')).toBe('ssh key not readable\n');
  });
});

describe('caching of validation', () => {
  it('a second run executes nothing; an edit re-runs only that program\'s chain', async () => {
    const again = await runCli(dir, ['--json', 'validated']);
    expect(summaryOf(again).executed).toBe(0);
    await fsp.writeFile(path.join(dir, 'src/ok_hello.cpp'), (await fsp.readFile(path.join(dir, 'src/ok_hello.cpp'), 'utf8')).replace('hello 1 2 3', 'hello 4 5 6'));
    const edit = await runCli(dir, ['--json', 'validated']);
    const executed = edit.events.filter((e) => e.type === 'node-done' && e.outcome === 'executed' && !String(e.id).includes('@')).map((e) => e.id).sort();
    expect(executed).toEqual(['asm/ok_hello', 'cleaned/ok_hello', 'validated/ok_hello']);
    expect(await fsp.readFile(path.join(dir, 'build/validated/ok_hello.expected.txt'), 'utf8')).toBe('hello 4 5 6\n');
  });
});
