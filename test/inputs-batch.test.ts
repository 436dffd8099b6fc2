/**
 * `inputs` with `mode: batch`, end to end: the real CLI, real g++ and sandbox, and the local
 * OpenAI-compatible test server. The programs of the target that wait for input go as the lines of
 * one Batch API batch (the engine's gather), shaped for the model; their cases reach validate; a
 * rebuild sends nothing; a build killed with SIGKILL while it polls resumes the same batch; a dry
 * run prints the Batch price and --max-cost refuses an expensive batch before it is sent; lines the batch left unanswered fail only their nodes and are asked
 * again by the next build.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, makeProject, outcomes, readTree, REPO, runCli, toolchainFiles, type CliResult } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer, type Responder } from './support/openai-server.js';

const FIX = path.join(REPO, 'test/fixtures/inputs');
const ENV = { ASMGRAPH_SANDBOX_UID_BASE: '63000' };
const READERS = ['menu_loop', 'read_cin', 'read_fd0', 'read_getline', 'read_scanf'];

const responder: Responder = (body) => {
  const code: string = body.messages.at(-1).content;
  const json = (cases: { name: string; stdin: string }[]) => '```json\n' + JSON.stringify({ cases }) + '\n```\n';
  if (code.includes('How many numbers?')) return json([{ name: 'three', stdin: '3\n1 2 3\n' }, { name: 'one', stdin: '1\n42\n' }]);
  if (code.includes('1. Push')) return json([{ name: 'push and quit', stdin: '1\n5\n3\n4\n' }]);
  if (code.includes('Enter two numbers')) return json([{ name: 'gcd', stdin: '84 36\n' }]);
  if (code.includes('std::getline')) return json([{ name: 'two lines', stdin: 'abc\nxyz\n' }]);
  if (code.includes('read(0')) return json([{ name: 'letters', stdin: 'Hello, Assembly!\n' }]);
  return json([]);
};

/** llmConcurrency 2 < 5 programs: the nodes waiting for the batch must give their slots back. */
const PIPELINE = (model = 'gpt-5-mini', pollMs = 5) => `version: 1
settings: { llmConcurrency: 2 }
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm: { kind: compile, from: programs }
  tests:
    kind: inputs
    from: programs
    params: { model: ${model}, mode: batch, pollMs: ${pollMs}, temperature: 0.7, max_tokens: 800, timeoutMs: 3000 }
  validated: { kind: validate, from: asm, with: { source: programs, inputs: tests }, params: { timeoutMs: 3000 } }
`;

let server: OpenAIServer;
const dirs: string[] = [];
const env = () => ({ ...ENV, OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });

beforeEach(async () => {
  server = await startOpenAIServer({ apiKey: TEST_KEY, responder });
});
afterEach(async () => {
  await server.stop();
});
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function project(pipeline = PIPELINE()): Promise<string> {
  const files: Record<string, string> = { 'pipeline.yaml': pipeline, ...(await toolchainFiles()) };
  for (const f of READERS) files[`src/${f}.cpp`] = await fsp.readFile(path.join(FIX, `${f}.cpp`), 'utf8');
  files['src/big_small.cpp'] = await fsp.readFile(path.join(FIX, 'cases/big_small.cpp'), 'utf8');
  files['src/big_small.stdin.txt'] = '500\n';
  files['src/hello.cpp'] = '#include <cstdio>\nint main() { std::puts("hello"); }\n';
  const d = await makeProject(files);
  dirs.push(d);
  return d;
}

const node = (r: CliResult, id: string) => {
  const e = r.events.find((x) => x.type === 'node-done' && x.id === id);
  if (!e) throw new Error(`no event for ${id}; stderr: ${r.stderr.slice(-2000)}`);
  return e;
};
const uploadedLines = () =>
  server.requests.filter((r) => r.route === 'POST /v1/files').map((r) => (r.body.content as string).trim().split('\n').map((l) => JSON.parse(l)));

async function expectNoKey(dir: string): Promise<void> {
  for (const sub of ['cache', 'build']) {
    for (const [file, text] of Object.entries(await readTree(path.join(dir, sub)))) expect(text.includes(TEST_KEY), `${sub}/${file}`).toBe(false);
  }
}

describe('inputs, mode: batch', () => {
  it('one upload and one batch for every program that needs input; lines shaped for the model; cases reach validate; a rebuild sends nothing', async () => {
    const dir = await project();
    const r = await runCli(dir, ['--json'], env(), 600_000);
    expect(r.code, r.stderr).toBe(0);
    expect(server.count('POST /v1/files')).toBe(1);
    expect(server.count('POST /v1/batches')).toBe(1);
    expect(server.count('POST /v1/chat/completions')).toBe(0);

    const [lines] = uploadedLines();
    expect(lines).toHaveLength(READERS.length);
    expect(new Set(lines!.map((l) => l.custom_id)).size).toBe(READERS.length);
    for (const l of lines!) {
      expect(l).toMatchObject({ method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-5-mini', max_completion_tokens: 800 } });
      // gpt-5-mini is a reasoning model: no max_tokens, no temperature.
      expect(l.body).not.toHaveProperty('max_tokens');
      expect(l.body).not.toHaveProperty('temperature');
    }
    const sent = lines!.map((l) => l.body.messages[1].content as string);
    expect(sent.some((c) => c.includes('a big number'))).toBe(false);
    expect(sent.some((c) => c.includes('"hello"'))).toBe(false);
    expect(server.requests.find((q) => q.route === 'POST /v1/batches')!.body).toMatchObject({ endpoint: '/v1/chat/completions', metadata: { asmgraph_target: 'tests' } });

    for (const p of READERS) {
      expect(node(r, `tests/${p}`), p).toMatchObject({ status: 'ok', meta: { from: 'model', mode: 'batch' } });
      expect(node(r, `validated/${p}`), p).toMatchObject({ status: 'ok', meta: { casesFrom: 'model' } });
    }
    expect(node(r, 'validated/read_cin').meta.cases).toBe(2);
    expect(node(r, 'tests/big_small').meta).toMatchObject({ from: 'human' });
    expect(node(r, 'tests/hello').meta).toMatchObject({ from: 'not-needed' });
    const cases = JSON.parse(await fsp.readFile(path.join(dir, 'build/tests/read_scanf.inputs.json'), 'utf8'));
    expect(cases).toMatchObject({ from: 'model', model: 'gpt-5-mini', cases: [{ name: '01-gcd', stdin: '84 36\n' }] });
    expect(r.events.some((e) => e.type === 'progress' && e.id === 'tests' && /^batch \S+ created \(5 requests\)$/.test(e.line))).toBe(true);

    const before = server.requests.length;
    const again = await runCli(dir, ['--json'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    expect(outcomes(again).executed ?? []).toEqual([]);
    // --force runs the nodes again: the target's journal answers them, nothing is sent.
    const forced = await runCli(dir, ['--json', '--force', 'tests'], env());
    expect(forced.code, forced.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    expect(outcomes(forced).executed).toEqual(expect.arrayContaining(READERS.map((x) => `tests/${x}`)));
    await expectNoKey(dir);
  }, 600_000);

  it('a build killed (SIGKILL) while it polls resumes the same batch: one upload, one batch in total', async () => {
    const dir = await project(PIPELINE('gpt-4o-mini'));
    // Stays in progress until the test lets it finish.
    server.script.batches.push({ statuses: ['validating', ...Array.from({ length: 1000 }, () => 'in_progress'), 'completed'] });
    const child = spawn(process.execPath, [CLI, '--json'], { cwd: dir, env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_c, sig) => resolve(sig)));
    let polls = 0;
    server.script.onRequest = (q) => {
      if (q.route === 'GET /v1/batches/:id' && ++polls === 3) child.kill('SIGKILL');
    };
    expect(await exited, stderr).toBe('SIGKILL');
    server.script.onRequest = undefined;
    expect(server.count('POST /v1/batches')).toBe(1);
    const [batchId, state] = [...server.batches.entries()][0]!;
    const journal = Object.entries(await readTree(path.join(dir, 'cache'))).find(([f]) => /resume\/tests\/@gather\/batch-/.test(f));
    expect(journal?.[1]).toContain(batchId);

    // The batch finishes on its next poll.
    state.statuses = ['validating', 'in_progress', 'completed'];
    state.step = 1;
    const again = await runCli(dir, ['--json'], env(), 600_000);
    expect(again.code, again.stderr).toBe(0);
    expect(server.count('POST /v1/batches')).toBe(1);
    expect(server.count('POST /v1/files')).toBe(1);
    expect(again.events.some((e) => e.type === 'progress' && e.line === `resuming batch ${batchId} (${READERS.length} requests)`)).toBe(true);
    for (const p of READERS) expect(node(again, `validated/${p}`), p).toMatchObject({ status: 'ok', meta: { casesFrom: 'model' } });
    await expectNoKey(dir);
  }, 600_000);

  it('lines a batch left unanswered fail only their nodes, clearly; the next build sends only those', async () => {
    const dir = await project(PIPELINE('gpt-4o-mini'));
    server.script.batches.push({ outcome: 'expired', finished: 2 });
    const first = await runCli(dir, ['--json', '-k'], env(), 600_000);
    expect(first.code).toBe(1);
    const batchId = [...server.batches.keys()][0]!;
    const failed = first.events.find((e) => e.type === 'build-done')!.summary.failed as { id: string; message: string }[];
    expect(failed).toHaveLength(READERS.length - 2);
    for (const f of failed) {
      expect(f.id).toMatch(/^tests\//);
      expect(f.message).toContain(`not answered by the Batch API (batch ${batchId}): batch_expired`);
    }
    const answered = READERS.filter((p) => !failed.some((f) => f.id === `tests/${p}`));
    for (const p of answered) expect(node(first, `validated/${p}`), p).toMatchObject({ status: 'ok' });

    const second = await runCli(dir, ['--json'], env(), 600_000);
    expect(second.code, second.stderr).toBe(0);
    expect(server.count('POST /v1/batches')).toBe(2);
    expect(uploadedLines()[1]).toHaveLength(READERS.length - 2);
    for (const p of READERS) expect(node(second, `validated/${p}`), p).toMatchObject({ status: 'ok' });
  }, 600_000);

  it('--dry-run prints the Batch price per program and sends nothing', async () => {
    const dir = await project(PIPELINE('gpt-4o-mini'));
    const r = await runCli(dir, ['--dry-run', 'tests'], env());
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout + r.stderr;
    for (const p of READERS) {
      expect(out).toMatch(new RegExp(`tests/${p}: 1 line of the target's batch if the program waits for input \\(known once it has run\\), ~\\d+ prompt tokens, at most 800 completion tokens, est\\. cost \\$[\\d.]+–\\$[\\d.]+ \\(Batch API price, 50% off\\)`));
    }
    expect(out).toMatch(/tests\/big_small: has human test cases; nothing to send/);
    expect(server.requests).toHaveLength(0);

    // --max-cost is checked on the whole batch before anything is uploaded.
    const capped = await runCli(dir, ['--max-cost', '0.00001', 'tests'], env(), 600_000);
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(/the 5 requests of tests's batch could cost up to \$[\d.]+, over --max-cost \$0\.0000; nothing was sent/);
    expect(server.requests).toHaveLength(0);
  }, 600_000);
});
