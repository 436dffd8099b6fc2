/**
 * eval against the models of 2027, end to end through the real CLI, g++, the sandbox and the local
 * OpenAI-compatible server (which answers 400 to a reasoning model given max_tokens, temperature or n):
 * request bodies shaped per model, the Responses API online and through Batch, the token budget from
 * the dataset's longest answer, every test case of a prompt (an answer that prints one case's expected
 * text fails the others), n samples ≥ k with a confidence interval, and expected-vs-actual diffs.
 *
 * Test cases come in the shape of [inputs]: the dataset report's per-example `cases: [{name, stdin}]`.
 * The fixture writes that report by hand (a `files` target whose file is the report).
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, REPO, runCli, type CliResult } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer, type RecordedRequest } from './support/openai-server.js';

const ADD_CPP = '#include <cstdio>\n\nint main() {\n    int a = 0, b = 0;\n    if (std::scanf("%d %d", &a, &b) != 2) return 1;\n    std::printf("%d\\n", a + b);\n    return 0;\n}\n';
const ADD_PROMPT = 'Write an Assembler program that reads two integers and prints their sum.';
const HELLO_CPP = '#include <cstdio>\n\nint main() {\n    std::puts("hello");\n    return 0;\n}\n';
const HELLO_PROMPT = 'Write an Assembler program that prints hello.';

const REASONING = 'gpt-5-mini';
const CLASSIC = 'gpt-4.1-mini';
const LONGEST_ANSWER = 800;

let addAsm = '';
let helloAsm = '';
/** Prints "5" whatever the input: right for case `a` (2 3) only. */
let cheatAsm = '';

const fence = (asm: string) => `Here is the assembly:\n\n\`\`\`asm\n${asm.trimEnd()}\n\`\`\`\n`;

/** A dataset report as [dataset] writes it, with [inputs]' test cases for `add`. */
const REPORT = JSON.stringify({
  system: 'You write x86-64 GNU assembler.',
  perExample: [
    { key: 'add', split: 'valid', tokens: 900, assistantTokens: LONGEST_ANSWER, cases: [{ name: 'a.txt', stdin: '2 3\n' }, { name: 'b.txt', stdin: '10 20\n' }, { name: 'c.txt', stdin: '-4 4\n' }] },
    { key: 'hello', split: 'valid', tokens: 300, assistantTokens: 200 },
  ],
});

const evalTarget = (name: string, params: string) => `  ${name}:
    kind: eval
    from: report
    with: { validated: validated, source: programs }
    params:
      reportDir: ${name}
      timeoutMs: 2000
${params}`;

const PIPELINE = `version: 1
default: [chat, responses, batch]
targets:
  programs:
    kind: files
    params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } }
  asm: { kind: compile, from: programs }
  validated:
    kind: validate
    from: asm
    with: { source: programs }
  report:
    kind: files
    params: { glob: "fixtures/dataset.report.json", as: report }
${evalTarget('chat', `      k: 2
      n: 4
      models:
        - { id: ${REASONING} }
        - { id: ${CLASSIC} }
`)}
${evalTarget('responses', `      api: responses
      k: 1
      models:
        - { id: ${REASONING} }
        - { id: ${CLASSIC} }
`)}
${evalTarget('batch', `      mode: batch
      api: responses
      pollMs: 5
      k: 1
      max_tokens: 1234
      models:
        - { id: ${CLASSIC} }
`)}
`;

/** sample index of a request, whatever its API (seed, or metadata.sample for the Responses API). */
const sampleOf = (body: any): number => Number(body.seed ?? body.metadata?.sample ?? 0);
const isAdd = (body: any) => JSON.stringify(body.messages ?? body.input).includes('sum');

function answerFor(body: any): string {
  if (!isAdd(body)) return fence(helloAsm);
  // Samples 0 and 2 are right on every case; 1 cheats; 3 gives prose.
  return [fence(addAsm), fence(cheatAsm), fence(addAsm), 'I would rather not.'][sampleOf(body) % 4]!;
}

let server: OpenAIServer;
let dir = '';
let first: CliResult;
const env = () => ({ OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });
const requestsTo = (route: RecordedRequest['route']) => server.requests.filter((r) => r.route === route);
const readJson = async (rel: string) => JSON.parse(await fsp.readFile(path.join(dir, rel), 'utf8'));

beforeAll(async () => {
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-evalcases-gxx-'));
  const gxx = async (cpp: string) => {
    await fsp.writeFile(path.join(work, 'prog.cpp'), cpp);
    execFileSync('g++', ['-std=gnu++17', '-O0', '-S', 'prog.cpp', '-o', 'prog.s'], { cwd: work });
    return fsp.readFile(path.join(work, 'prog.s'), 'utf8');
  };
  addAsm = await gxx(ADD_CPP);
  helloAsm = await gxx(HELLO_CPP);
  cheatAsm = await gxx('#include <cstdio>\n\nint main() {\n    std::printf("%d\\n", 5);\n    return 0;\n}\n');
  await fsp.rm(work, { recursive: true, force: true });

  server = await startOpenAIServer({ apiKey: TEST_KEY, responder: (body) => answerFor(body) });
  const files: Record<string, string> = {
    'pipeline.yaml': PIPELINE,
    'src/add.cpp': ADD_CPP, 'src/add.prompt.txt': `${ADD_PROMPT}\n`,
    // add reads its input: validate runs it on the same cases the report carries.
    'src/add.inputs/a.txt': '2 3\n', 'src/add.inputs/b.txt': '10 20\n', 'src/add.inputs/c.txt': '-4 4\n',
    'src/hello.cpp': HELLO_CPP, 'src/hello.prompt.txt': `${HELLO_PROMPT}\n`,
    'fixtures/dataset.report.json': REPORT,
  };
  for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
  dir = await makeProject(files);
  first = await runCli(dir, ['--json'], env());
}, 240_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('request shape per model', () => {
  it('a reasoning model gets max_completion_tokens and neither max_tokens, temperature nor n; others get max_tokens and temperature', () => {
    expect(first.code, first.stderr + first.stdout.slice(-3000)).toBe(0);
    const chat = requestsTo('POST /v1/chat/completions');
    expect(chat).toHaveLength(2 * 2 * 4); // 2 models × 2 prompts × n 4
    for (const r of chat.filter((x) => x.body.model === REASONING)) {
      expect(r.body).not.toHaveProperty('max_tokens');
      expect(r.body).not.toHaveProperty('temperature');
      expect(r.body).not.toHaveProperty('n');
      expect(r.body.max_completion_tokens).toBe(Math.ceil(LONGEST_ANSWER * 1.25) + 64 + 4096);
    }
    for (const r of chat.filter((x) => x.body.model === CLASSIC)) {
      expect(r.body).not.toHaveProperty('max_completion_tokens');
      // The default budget comes from the dataset's longest answer, not 4,096.
      expect(r.body.max_tokens).toBe(Math.ceil(LONGEST_ANSWER * 1.25) + 64);
      expect(r.body.temperature).toBe(0.9);
    }
    expect(new Set(chat.map((r) => `${r.body.model}|${r.body.seed}|${isAdd(r.body)}`)).size).toBe(16);
  });

  it('the Responses API online: instructions + input, max_output_tokens, no temperature for the reasoning model', () => {
    const online = requestsTo('POST /v1/responses');
    expect(online).toHaveLength(2 * 2);
    for (const r of online) {
      expect(r.body.instructions).toBe('You write x86-64 GNU assembler.');
      expect(r.body.input).toEqual([{ role: 'user', content: expect.any(String) }]);
      expect(r.body).not.toHaveProperty('max_tokens');
      expect(r.body).not.toHaveProperty('messages');
      expect(r.body.max_output_tokens).toBeGreaterThan(0);
      if (r.body.model === REASONING) expect(r.body).not.toHaveProperty('temperature');
      else expect(r.body.temperature).toBe(0.9);
    }
  });

  it('eval through the Batch API with /v1/responses lines; nothing of it is sent online', async () => {
    const uploads = requestsTo('POST /v1/files').filter((r) => r.body.purpose === 'batch');
    expect(uploads).toHaveLength(1);
    const lines = (uploads[0]!.body.content as string).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l.url).toBe('/v1/responses');
      expect(l.body.max_output_tokens).toBe(1234);
      expect(l.body.model).toBe(CLASSIC);
    }
    expect(requestsTo('POST /v1/batches')[0]!.body.endpoint).toBe('/v1/responses');
    const rep = await readJson('build/batch/report.json');
    expect(rep.settings.mode).toBe('batch');
    expect(rep.metrics.models[0].verdicts.ok).toBe(2);
  });
});

describe('every test case, n samples, intervals, diffs', () => {
  it('an answer passes only if every case matches: the one that prints one case\'s answer fails on the others', async () => {
    const rep = await readJson('build/chat/report.json');
    const s = (model: string, index: number) => rep.samples.find((x: any) => x.model === model && x.prompt === 'add' && x.index === index);
    const right = s(CLASSIC, 0);
    expect(right.verdict).toBe('ok');
    expect(right.cases.map((c: any) => [c.name, c.verdict])).toEqual([['a.txt', 'ok'], ['b.txt', 'ok'], ['c.txt', 'ok']]);
    const cheat = s(CLASSIC, 1);
    expect(cheat.verdict).toBe('output-mismatch');
    expect(cheat.cases.map((c: any) => c.verdict)).toEqual(['ok', 'output-mismatch', 'output-mismatch']);
    expect(cheat.case).toBe('b.txt');
    expect(cheat.detail).toMatch(/^case b\.txt: .*expected "30", got "5".*\(1\/3 cases pass\)/);
    // Expected outputs of the listed cases come from running the C++ program on each stdin.
    expect(rep.prompts.find((p: any) => p.id === 'add').cases.map((c: any) => c.expected)).toEqual(['5\n', '30\n', '0\n']);
    // A prompt without listed cases has one, with validate's recorded output.
    expect(rep.prompts.find((p: any) => p.id === 'hello').cases).toEqual([{ name: 'default', stdin: '', expected: 'hello\n' }]);
  });

  it('pass@k from n ≥ k samples, with a 95% confidence interval over prompts', async () => {
    const rep = await readJson('build/chat/report.json');
    const m = rep.metrics.models.find((x: any) => x.model === CLASSIC);
    expect(m.n).toBe(4);
    expect(m.k).toBe(2);
    // add: 2 of 4 correct → pass@1 0.5, pass@2 = 1 - C(2,2)/C(4,2) = 5/6; hello: 4 of 4 → 1.
    expect(m.passAt1).toBeCloseTo(0.75, 10);
    expect(m.passAtK).toBeCloseTo((5 / 6 + 1) / 2, 10);
    const mean = (5 / 6 + 1) / 2;
    const sd = Math.sqrt(((5 / 6 - mean) ** 2 + (1 - mean) ** 2) / 1);
    expect(m.passAtKInterval[0]).toBeCloseTo(Math.max(0, mean - 1.96 * sd / Math.sqrt(2)), 10);
    expect(m.passAtKInterval[1]).toBeCloseTo(1, 10);
    const summary = first.events.filter((e) => e.type === 'report' && e.target === 'chat').flatMap((e) => e.lines).join('\n');
    expect(summary).toMatch(new RegExp(`${CLASSIC}: pass@1 75\\.0% \\[95% CI [\\d.]+%–[\\d.]+%\\], pass@2 91\\.7% \\[95% CI`));
  });

  it('n below k is refused with the reason', async () => {
    const bad = await makeProject({ 'pipeline.yaml': PIPELINE.replace('      n: 4\n', '      n: 1\n'), ...(await sources()) });
    try {
      const before = server.requests.length;
      const r = await runCli(bad, ['chat'], env());
      expect(r.code).toBe(1);
      expect(server.requests.length).toBe(before);
      expect(r.stderr + r.stdout).toMatch(/params\.n \(1 samples per prompt\) must be at least params\.k \(2\)/);
    } finally {
      await fsp.rm(bad, { recursive: true, force: true });
    }
  });

  it('the report shows expected vs actual as a diff, per prompt', async () => {
    const md = await fsp.readFile(path.join(dir, 'build/chat/report.md'), 'utf8');
    expect(md).toMatch(/## Expected vs actual output/);
    expect(md).toMatch(/### `add` · gpt-4\.1-mini · sample #2 · case b\.txt\n\n```diff\n--- b\.txt\texpected\n\+\+\+ b\.txt\tactual\n@@ -1,1 \+1,1 @@\n-30\n\+5\n```/);
    const html = await fsp.readFile(path.join(dir, 'build/chat/report.html'), 'utf8');
    expect(html).toContain('<span class="del">-30</span>');
    expect(html).toContain('<span class="add">+5</span>');
  });

  it('changing k re-runs the eval but sends nothing and runs no check: the n samples are in the journal and the cache', async () => {
    const before = server.requests.length;
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE.replace('      k: 2\n      n: 4\n', '      k: 3\n      n: 4\n'));
    const again = await runCli(dir, ['--json', 'chat'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(again.events.some((e) => e.type === 'node-done' && e.id === 'chat' && e.outcome === 'executed')).toBe(true);
    expect((await readJson('build/chat/report.json')).metrics.k).toBe(3);
    const sent = server.requests.slice(before).filter((r) => r.route === 'POST /v1/chat/completions' || r.route === 'POST /v1/responses' || r.route === 'POST /v1/batches');
    expect(sent).toHaveLength(0);
    const fresh = again.events.filter((e) => e.type === 'node-done' && /^eval-(check|reference)@/.test(String(e.id)) && e.outcome === 'executed');
    expect(fresh).toHaveLength(0);
  });
});

async function sources(): Promise<Record<string, string>> {
  const files: Record<string, string> = {
    'src/add.cpp': ADD_CPP, 'src/add.prompt.txt': `${ADD_PROMPT}\n`,
    // add reads its input: validate runs it on the same cases the report carries.
    'src/add.inputs/a.txt': '2 3\n', 'src/add.inputs/b.txt': '10 20\n', 'src/add.inputs/c.txt': '-4 4\n',
    'src/hello.cpp': HELLO_CPP, 'src/hello.prompt.txt': `${HELLO_PROMPT}\n`,
    'fixtures/dataset.report.json': REPORT,
  };
  for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
  return files;
}
