/**
 * The `inputs` kind end to end: the real CLI, real g++ and sandbox, and the local OpenAI-compatible
 * test server (through the real SDK). Programs that wait for input and have no cases get cases
 * from the model; each proposed case runs on the reference, the bad ones are dropped with their
 * reason, the kept ones make the programs validate; human cases win and programs that read nothing
 * cost nothing; a second run sends nothing; --dry-run sends nothing and prints the cost bound.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, readTree, REPO, runCli, toolchainFiles, type CliResult } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer, type Responder } from './support/openai-server.js';

const FIX = path.join(REPO, 'test/fixtures/inputs');
const ENV = { ASMGRAPH_SANDBOX_UID_BASE: '63000' };
const READERS = ['menu_loop', 'read_cin', 'read_fd0', 'read_getline', 'read_scanf'];

/** Answers like a model would, per program; for two programs one case is bad on purpose. */
const responder: Responder = (body) => {
  const code: string = body.messages.at(-1).content;
  const json = (cases: { name: string; stdin: string }[]) => '```json\n' + JSON.stringify({ cases }) + '\n```\n';
  if (code.includes('How many numbers?')) {
    return json([{ name: 'three', stdin: '3\n1 2 3\n' }, { name: 'Negative size!', stdin: '-1\n' }, { name: 'one', stdin: '1\n42\n' }]);
  }
  if (code.includes('1. Push')) {
    return json([{ name: 'push and quit', stdin: '1\n5\n3\n4\n' }, { name: 'forgets to quit', stdin: '1\n5\n3\n' }]);
  }
  if (code.includes('Enter two numbers')) return `Here you go: {"cases": [{"name": "gcd", "stdin": "84 36\\n"}, {"name": "coprime", "stdin": "9 28\\n"}]}`;
  if (code.includes('std::getline')) return json([{ name: 'two lines', stdin: 'abc\nxyz\n' }]);
  if (code.includes('read(0')) return json([{ name: 'letters', stdin: 'Hello, Assembly!\n' }]);
  if (code.includes('Elapsed')) return json([{ name: 'n', stdin: '30\n' }]);
  return json([]);
};

const PIPELINE = `version: 1
settings: { llmConcurrency: 2 }
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm: { kind: compile, from: programs }
  tests: { kind: inputs, from: programs, params: { model: gpt-4o-mini, timeoutMs: 3000 } }
  validated: { kind: validate, from: asm, with: { source: programs, inputs: tests }, params: { timeoutMs: 3000 } }
`;

let server: OpenAIServer;
let dir = '';
let build: CliResult;
const env = () => ({ ...ENV, OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });
const node = (r: CliResult, id: string) => {
  const e = r.events.find((x) => x.type === 'node-done' && x.id === id);
  if (!e) throw new Error(`no event for ${id}; stderr: ${r.stderr.slice(-2000)}`);
  return e;
};
const chats = () => server.requests.filter((q) => q.route === 'POST /v1/chat/completions');

beforeAll(async () => {
  server = await startOpenAIServer({ apiKey: TEST_KEY, responder });
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE, ...(await toolchainFiles()) };
  for (const f of READERS) files[`src/${f}.cpp`] = await fsp.readFile(path.join(FIX, `${f}.cpp`), 'utf8');
  // Human cases win: big_small has its own, and the model is never asked about it.
  files['src/big_small.cpp'] = await fsp.readFile(path.join(FIX, 'cases/big_small.cpp'), 'utf8');
  files['src/big_small.stdin.txt'] = '500\n';
  // A program that reads nothing is not sent either.
  files['src/hello.cpp'] = '#include <cstdio>\nint main() { std::puts("hello"); }\n';
  // Reads a number and prints its CPU time: every case the model writes is nondeterministic.
  files['src/timed_input.cpp'] = `#include <cstdio>
#include <ctime>
int main() { int n = 0; if (std::scanf("%d", &n) != 1) return 1; clock_t t = clock(); long s = 0; for (int i = 0; i < n; i++) s += i;
  std::printf("sum %ld\\nElapsed: %ld ticks\\n", s, (long)(clock() - t)); }
`;
  dir = await makeProject(files);
  build = await runCli(dir, ['--json'], env(), 600_000);
}, 700_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('inputs written by a model', () => {
  it('asks only about the programs that wait for input and have no cases', () => {
    expect(build.code, build.stderr).toBe(0);
    expect(chats()).toHaveLength(READERS.length + 1);
    const sent = chats().map((q) => q.body.messages[1].content as string);
    expect(sent.some((c) => c.includes('a big number'))).toBe(false);
    expect(sent.some((c) => c.includes('"hello"'))).toBe(false);
    expect(chats()[0]!.body.messages[0].content).toMatch(/^You will be given a C\+\+ program that reads its standard input\.\nWrite 3 different test inputs/);
    expect(node(build, 'tests/big_small').meta).toMatchObject({ from: 'human' });
    expect(node(build, 'tests/hello').meta).toMatchObject({ from: 'not-needed', verdict: 'ok' });
  });

  it('runs every proposed case on the reference and drops the bad ones with their reason', async () => {
    const cin = JSON.parse(await fsp.readFile(path.join(dir, 'build/tests/read_cin.inputs.json'), 'utf8'));
    expect(cin.cases).toEqual([{ name: '01-three', stdin: '3\n1 2 3\n' }, { name: '03-one', stdin: '1\n42\n' }]);
    expect(cin.dropped).toHaveLength(1);
    expect(cin.dropped[0]).toMatchObject({ name: '02-negative-size', stdin: '-1\n', reason: 'crash' });
    expect(cin.dropped[0].message).toMatch(/SIGABRT.*length_error|SIGABRT/s);
    const menu = JSON.parse(await fsp.readFile(path.join(dir, 'build/tests/menu_loop.inputs.json'), 'utf8'));
    expect(menu.cases.map((c: { name: string }) => c.name)).toEqual(['01-push-and-quit']);
    expect(menu.dropped[0]).toMatchObject({ name: '02-forgets-to-quit', reason: 'needs-input' });
    expect(menu.dropped[0].message).toMatch(/read all 6 bytes of its input and waited for more/);
  });

  it('when every proposed case is dropped, validate says so in its needs-input verdict', async () => {
    const t = JSON.parse(await fsp.readFile(path.join(dir, 'build/tests/timed_input.inputs.json'), 'utf8'));
    expect(t.cases).toEqual([]);
    expect(t.dropped[0]).toMatchObject({ name: '01-n', reason: 'nondeterministic' });
    expect(t.dropped[0].message).toMatch(/output depends on the time/);
    const v = node(build, 'validated/timed_input');
    expect(v).toMatchObject({ status: 'rejected', reason: 'needs-input' });
    expect(v.message).toMatch(/; every model-written case was dropped \(nondeterministic ×1\)$/);
  });

  it('with the kept cases every program validates; the human case of big_small wins', async () => {
    for (const r of READERS) expect(node(build, `validated/${r}`), r).toMatchObject({ status: 'ok', meta: { casesFrom: 'model' } });
    expect(node(build, 'validated/read_cin').meta.cases).toBe(2);
    expect(node(build, 'validated/big_small')).toMatchObject({ status: 'ok', meta: { casesFrom: 'human', cases: 1 } });
    expect(node(build, 'validated/hello')).toMatchObject({ status: 'ok', meta: { casesFrom: 'none' } });
    const cases = JSON.parse(await fsp.readFile(path.join(dir, 'build/validated/read_scanf.cases.json'), 'utf8'));
    expect(cases.cases.map((c: { expected: string }) => c.expected)).toEqual(['Enter two numbers: gcd = 12\n', 'Enter two numbers: gcd = 1\n']);
  });

  it('a second run sends nothing and executes nothing; the key is nowhere', async () => {
    const before = server.requests.length;
    const again = await runCli(dir, ['--json'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    expect(outcomes(again).executed ?? []).toEqual([]);
    // --force re-runs the nodes, but the journal answers what was already paid for.
    const forced = await runCli(dir, ['--json', '--force', 'tests'], env());
    expect(forced.code, forced.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    for (const sub of ['cache', 'build']) {
      for (const [file, text] of Object.entries(await readTree(path.join(dir, sub)))) expect(text.includes(TEST_KEY), `${sub}/${file}`).toBe(false);
    }
  });

  it('--dry-run prints each request and its cost bound, and sends nothing', async () => {
    await fsp.writeFile(path.join(dir, 'src/read_cin.cpp'), (await fsp.readFile(path.join(dir, 'src/read_cin.cpp'), 'utf8')).replace('How many numbers?', 'Count?'));
    const before = server.requests.length;
    const r = await runCli(dir, ['--dry-run', 'tests'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/tests\/read_cin: 1 request if the program waits for input \(known once it has run\), ~\d+ prompt tokens, at most 1,000 completion tokens, est\. cost/);
    expect(server.requests.length).toBe(before);
  });
});
