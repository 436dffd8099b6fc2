/**
 * The `eval` kind end to end: the real CLI in a temp project (real g++, the real sandbox), the
 * models played by the local OpenAI-compatible server with canned answers chosen by model id,
 * prompt and sample index (`seed`): real `g++ -S` output, the seed's mismatched-label bug, NASM,
 * an undefined label, an endless loop, a segfault, a wrong exit code and prose without assembly.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractAsm } from '../src/eval/extract.js';
import { makeProject, outcomes, readTree, REPO, runCli, summaryOf, type CliResult } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer } from './support/openai-server.js';

const BASE = 'gpt-4o-mini';
const TUNED = 'ft:gpt-4o-mini-2024-07-18:asmgraph::evaltest';
const NANO = 'gpt-4.1-nano';
const K = 3;

const PROGRAMS: Record<string, { cpp: string; prompt: string }> = {
  sum: {
    cpp: '#include <cstdio>\n\nint main() {\n    std::puts("The sum of 8 and 120 is:");\n    std::printf("%d\\n", 8 + 120);\n    return 0;\n}\n',
    prompt: 'Write an Assembler program that will add numbers 8 and 120.',
  },
  count: {
    cpp: '#include <cstdio>\n\nint main() {\n    for (int i = 1; i <= 3; i++) std::printf("%d\\n", i);\n    return 0;\n}\n',
    prompt: 'Write an Assembler program that counts from 1 to 3, one number per line.',
  },
  exit3: {
    cpp: '#include <cstdio>\n\nint main() {\n    std::puts("done");\n    return 3;\n}\n',
    prompt: 'Write an Assembler program that prints "done" and exits with status 3.',
  },
};

const PIPELINE = (models: string) => `version: 1
default: [eval]
targets:
  programs:
    kind: files
    params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } }
  asm: { kind: compile, from: programs }
  validated:
    kind: validate
    from: asm
    with: { source: programs }
    params: { timeoutMs: 3000 }
  dataset:
    kind: dataset
    from: validated
    with: { source: programs }
  tuned:
    kind: command
    params:
      per: all
      run: printf '${TUNED}\\n' > "$OUT"
      outputs: { model: model.txt }
  eval:
    kind: eval
    from: dataset
    with: { validated: validated, source: programs, model: tuned }
    params:
      split: all
      k: ${K}
      timeoutMs: 1500
      models:
${models}
`;

const TWO_MODELS = `        - { id: ${BASE}, label: base }
        - { id: from-finetune, label: fine-tuned }`;
const THREE_MODELS = `${TWO_MODELS}
        - { id: ${NANO} }`;

/** The seed's NASM answer (as default GPT-4o-mini wrote it). */
const NASM = (tag: string) => `Here is the corresponding x86-64 Assembly code.

\`\`\`assembly
section .data
    msg db "The sum of 8 and 120 is ", 0 ; ${tag}
    len equ $ - msg

section .text
    global _start

_start:
    mov rax, 1
    mov rdi, 1
    mov rsi, msg
    mov rdx, len
    syscall
    mov rax, 60
    xor rdi, rdi
    syscall
\`\`\`

Assemble it with \`nasm -f elf64\` and link with \`ld\`.
`;

const fence = (asm: string) => `Here is the assembly:\n\n\`\`\`asm\n${asm.trimEnd()}\n\`\`\`\n`;
const LOOP = fence('\t.text\n\t.globl\tmain\n\t.type\tmain, @function\nmain:\n.Lspin:\n\tjmp\t.Lspin\n\t.section\t.note.GNU-stack,"",@progbits');
const SEGV = fence('\t.text\n\t.globl\tmain\n\t.type\tmain, @function\nmain:\n\tmovq\t$0, %rax\n\tmovl\t(%rax), %eax\n\tret\n\t.section\t.note.GNU-stack,"",@progbits');
const PROSE = 'I am sorry, but writing assembly by hand is error-prone. I suggest you compile the C++ program with g++ -S instead.';

let asmOf: Record<string, string> = {};
const marker = (key: string, asm = asmOf[key]!) =>
  `Sure! But let's first write C++ code which works like that:\n${PROGRAMS[key]!.cpp}\nNow, let's write the Assembler code:\n${asm}`;

/** Every variant, computed once g++ has produced the real assembly. */
function answers(): Record<string, Record<string, string[]>> {
  const sum = asmOf.sum!;
  const count = asmOf.count!;
  const exit3 = asmOf.exit3!;
  // The seed's bug: the second string is addressed through the first label, so a line is printed twice.
  const swapped = sum.replace(/leaq\t\.LC1\(%rip\)/, 'leaq\t.LC0(%rip)');
  const undefinedLabel = count.replace(/\.LC0\(%rip\)/, '.LC7(%rip)');
  const wrongExit = exit3.replace(/movl\t\$3, %eax/, 'movl\t$0, %eax');
  const countToFour = count.replace(/cmpl\t\$3, /, 'cmpl\t$4, ');
  for (const [a, b] of [[swapped, sum], [undefinedLabel, count], [wrongExit, exit3], [countToFour, count]]) expect(a).not.toBe(b);
  return {
    [BASE]: {
      sum: [NASM('base'), fence(sum), marker('sum', swapped)],
      count: [PROSE, marker('count', undefinedLabel), LOOP],
      exit3: [SEGV, marker('exit3', wrongExit), marker('exit3')],
    },
    [TUNED]: {
      sum: [marker('sum'), marker('sum'), marker('sum')],
      count: [marker('count'), marker('count', countToFour), marker('count')],
      exit3: [marker('exit3'), marker('exit3'), marker('exit3')],
    },
    [NANO]: Object.fromEntries(Object.keys(PROGRAMS).map((key) => [key, [0, 1, 2].map((i) => NASM(`nano ${key} ${i}`))])),
  };
}

let server: OpenAIServer;
let dir = '';
let table: Record<string, Record<string, string[]>> = {};
let first: CliResult;
const runs: CliResult[] = [];
const env = () => ({ OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });

function keyOfPrompt(prompt: string): string {
  const key = Object.keys(PROGRAMS).find((k) => PROGRAMS[k]!.prompt === prompt);
  if (!key) throw new Error(`unexpected prompt ${prompt}`);
  return key;
}

const chatRequests = () => server.requests.filter((r) => r.route === 'POST /v1/chat/completions');
const checkEvents = (r: CliResult, outcome: string) =>
  r.events.filter((e) => e.type === 'node-done' && String(e.id).startsWith('eval-check@') && e.outcome === outcome);
const distinctAsm = (model: string) => {
  const set = new Set<string>();
  for (const list of Object.values(table[model]!)) {
    for (const a of list) {
      const x = extractAsm(a);
      if (x.ok) set.add(x.asm);
    }
  }
  return set;
};

beforeAll(async () => {
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-eval-gxx-'));
  for (const [key, p] of Object.entries(PROGRAMS)) {
    // Named like compile names every program, so `.file` matches what compile writes.
    await fsp.writeFile(path.join(work, 'prog.cpp'), p.cpp);
    execFileSync('g++', ['-std=gnu++17', '-O0', '-S', 'prog.cpp', '-o', 'prog.s'], { cwd: work });
    asmOf[key] = await fsp.readFile(path.join(work, 'prog.s'), 'utf8');
  }
  await fsp.rm(work, { recursive: true, force: true });
  table = answers();

  server = await startOpenAIServer({
    apiKey: TEST_KEY,
    responder: (body) => {
      const key = keyOfPrompt(body.messages.at(-1).content);
      const answer = table[body.model]?.[key]?.[body.seed];
      if (answer === undefined) throw new Error(`no canned answer for ${body.model} ${key} seed ${body.seed}`);
      return answer;
    },
  });

  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE(TWO_MODELS) };
  for (const [key, p] of Object.entries(PROGRAMS)) {
    files[`src/${key}.cpp`] = p.cpp;
    files[`src/${key}.prompt.txt`] = `${p.prompt}\n`;
  }
  for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
  dir = await makeProject(files);
  first = await runCli(dir, ['--json'], env());
  runs.push(first);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

async function reportJson(): Promise<any> {
  return JSON.parse(await fsp.readFile(path.join(dir, 'build/eval/report.json'), 'utf8'));
}

function sample(report: any, model: string, prompt: string, index: number): any {
  const s = report.samples.find((x: any) => x.model === model && x.prompt === prompt && x.index === index);
  if (!s) throw new Error(`no sample ${model} ${prompt} ${index}`);
  return s;
}

describe('eval', () => {
  it('asks every model k times per prompt, with the dataset system message and the sample index as seed', () => {
    expect(first.code, first.stderr).toBe(0);
    const reqs = chatRequests();
    expect(reqs).toHaveLength(2 * 3 * K);
    for (const r of reqs) {
      expect(r.body.messages[0]).toEqual({ role: 'system', content: expect.stringMatching(/^You are a coding assistant AI specialised in writing x86-64 g\+\+ Assembler code\./) });
      expect(r.body.temperature).toBe(0.9);
      expect(r.body.n).toBeUndefined();
    }
    const seen = reqs.map((r) => `${r.body.model}|${keyOfPrompt(r.body.messages[1].content)}|${r.body.seed}`).sort();
    expect(new Set(seen).size).toBe(2 * 3 * K);
    expect(reqs.filter((r) => r.body.model === TUNED)).toHaveLength(3 * K); // from-finetune resolved via build/model.txt
  });

  it('gives every verdict, with a reason', async () => {
    const report = await reportJson();
    const v = (m: string, p: string, i: number) => sample(report, m, p, i);
    expect(v(BASE, 'sum', 0)).toMatchObject({ verdict: 'assemble-error', detail: expect.stringMatching(/NASM/) });
    expect(v(BASE, 'sum', 1)).toMatchObject({ verdict: 'ok', stdout: 'The sum of 8 and 120 is:\n128\n' });
    // The seed's `.LC1` bug: the first line printed twice.
    expect(v(BASE, 'sum', 2)).toMatchObject({ verdict: 'output-mismatch', detail: 'line 2: expected "128", got "The sum of 8 and 120 is:"' });
    expect(v(BASE, 'count', 0)).toMatchObject({ verdict: 'no-asm' });
    expect(v(BASE, 'count', 0).asm).toBeUndefined();
    expect(v(BASE, 'count', 1)).toMatchObject({ verdict: 'link-error', detail: expect.stringContaining('undefined reference to `.LC7`') });
    expect(v(BASE, 'count', 2)).toMatchObject({ verdict: 'timeout', detail: expect.stringMatching(/limit \(1500 ms\)/) });
    expect(v(BASE, 'exit3', 0)).toMatchObject({ verdict: 'crash', detail: expect.stringMatching(/SIGSEGV/) });
    expect(v(BASE, 'exit3', 1)).toMatchObject({ verdict: 'output-mismatch', detail: 'exit code: expected 3, got 0' });
    expect(v(BASE, 'exit3', 2)).toMatchObject({ verdict: 'ok' });
    expect(v(TUNED, 'count', 1)).toMatchObject({ verdict: 'output-mismatch', detail: 'line 4: expected "", got "4"' });
    for (const p of ['sum', 'exit3']) for (let i = 0; i < K; i++) expect(v(TUNED, p, i).verdict).toBe('ok');
  });

  it('computes pass@1, pass@k, stage rates, tokens and cost', async () => {
    const report = await reportJson();
    const [base, tuned] = report.metrics.models;
    expect(report.metrics.k).toBe(K);
    expect(base).toMatchObject({
      model: BASE, samples: 9, prompts: 3, promptsSolved: 2,
      verdicts: { 'no-asm': 1, 'assemble-error': 1, 'link-error': 1, crash: 1, timeout: 1, 'output-mismatch': 2, ok: 2 },
      counts: { extracted: 8, assembles: 7, links: 6, runs: 4, matches: 2 },
      passAtKPrompts: 3,
    });
    // Per prompt (n = k = 3): sum c=1, count c=0, exit3 c=1.
    expect(base.passAt1).toBeCloseTo((1 / 3 + 0 + 1 / 3) / 3, 12);
    expect(base.passAtK).toBeCloseTo((1 + 0 + 1) / 3, 12);
    expect(base.rates.runs).toBeCloseTo(4 / 9, 12);
    // sum c=3, count c=2, exit3 c=3.
    expect(tuned).toMatchObject({ model: TUNED, samples: 9, verdicts: { ok: 8, 'output-mismatch': 1 }, promptsSolved: 3 });
    expect(tuned.passAt1).toBeCloseTo((1 + 2 / 3 + 1) / 3, 12);
    expect(tuned.passAtK).toBe(1);

    // Usage as the server reported it (prompt ≈ JSON of messages / 4, completion ≈ answer / 4) × prices.
    for (const [m, price] of [[base, { input: 0.15, output: 0.6 }], [tuned, { input: 0.3, output: 1.2 }]] as const) {
      const reqs = chatRequests().filter((r) => r.body.model === m.model);
      const input = reqs.reduce((n, r) => n + Math.ceil(JSON.stringify(r.body.messages).length / 4), 0);
      const output = reqs.reduce((n, r) => n + Math.ceil(table[m.model]![keyOfPrompt(r.body.messages[1].content)]![r.body.seed]!.length / 4), 0);
      expect(m.tokens).toEqual({ input, output, samplesWithUsage: 9 });
      expect(m.cost.total).toBeCloseTo((input * price.input + output * price.output) / 1e6, 12);
    }

    const lines = first.events.filter((e) => e.type === 'report' && e.target === 'eval').flatMap((e) => e.lines as string[]);
    expect(lines.join('\n')).toMatch(/base \(gpt-4o-mini\): pass@1 22\.2% \[95% CI [\d.]+%–[\d.]+%\], pass@3 66\.7%/);
    expect(lines.join('\n')).toMatch(/fine-tuned \(ft:gpt-4o-mini-2024-07-18:asmgraph::evaltest\): pass@1 88\.9% \[95% CI [\d.]+%–[\d.]+%\], pass@3 100\.0%/);
    // Identical assembly is checked once.
    expect(checkEvents(first, 'executed')).toHaveLength(new Set([...distinctAsm(BASE), ...distinctAsm(TUNED)]).size);
  });

  it('writes report.md, report.json and a self-contained report.html', async () => {
    const md = await fsp.readFile(path.join(dir, 'build/eval/report.md'), 'utf8');
    const html = await fsp.readFile(path.join(dir, 'build/eval/report.html'), 'utf8');
    expect(md).toMatch(/\| base \| 9 \|/);
    expect(md).toMatch(/pass@3/);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script|<link\b|\bsrc=/i);
    for (const key of Object.keys(PROGRAMS)) expect(html).toContain(`id="prompt-${key}"`);
    const report = await reportJson();
    expect(report.settings).toMatchObject({ split: 'all', k: K, temperature: 0.9, compareExitCode: true });
    expect(report.prompts.map((p: any) => p.id)).toEqual(['count', 'exit3', 'sum']);
  });

  it('re-running sends nothing and checks nothing', async () => {
    const before = server.requests.length;
    const again = await runCli(dir, ['--json'], env());
    runs.push(again);
    expect(again.code, again.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    expect(summaryOf(again)).toMatchObject({ executed: 0, ok: true });
    expect(outcomes(again).executed ?? []).toEqual([]);
    expect(outcomes(again)['up-to-date']).toContain('eval');
    expect(checkEvents(again, 'executed')).toHaveLength(0);
    // The summary is still printed.
    expect(again.events.some((e) => e.type === 'report' && e.target === 'eval' && /pass@1/.test(e.lines.join('\n')))).toBe(true);
  });

  it('a dry run with a third model plans every request and sends none', async () => {
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE(THREE_MODELS));
    const before = server.requests.length;
    const plan = await runCli(dir, ['--json', '--dry-run'], env());
    runs.push(plan);
    expect(plan.code, plan.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    const lines = plan.events.filter((e) => e.type === 'report' && e.target === 'eval').flatMap((e) => e.lines as string[]).join('\n');
    expect(lines).toMatch(/would send 27 requests \(3 models × 3 prompts of split all × 3 samples/);
    expect(lines).toMatch(/gpt-4\.1-nano: 9 requests \(max_tokens, temperature\), ~[\d,]+ prompt tokens, at most [\d,]+ completion tokens \(\d+ each\), est\. cost \$/);
    expect(lines).toMatch(/dry run: nothing sent/);
  });

  it('adding a model sends only its requests and checks only its samples', async () => {
    const before = chatRequests().length;
    const third = await runCli(dir, ['--json'], env());
    runs.push(third);
    expect(third.code, third.stderr).toBe(0);
    const sent = chatRequests().slice(before);
    expect(sent).toHaveLength(3 * K);
    expect(new Set(sent.map((r) => r.body.model))).toEqual(new Set([NANO]));
    expect(outcomes(third).executed).toEqual(['eval']);
    // Only the new model's answers are assembled; every earlier check comes from the cache.
    expect(checkEvents(third, 'executed')).toHaveLength(distinctAsm(NANO).size);
    expect(checkEvents(third, 'cached')).toHaveLength(new Set([...distinctAsm(BASE), ...distinctAsm(TUNED)]).size);
    const report = await reportJson();
    expect(report.metrics.models.map((m: any) => m.model)).toEqual([BASE, TUNED, NANO]);
    expect(report.metrics.models[2]).toMatchObject({ verdicts: { 'assemble-error': 9 }, passAt1: 0, passAtK: 0 });
    expect(report.metrics.models[0].passAt1).toBeCloseTo(2 / 9, 12);
  });

  it('--max-cost refuses before sending when the requests still to send could cost more', async () => {
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE(THREE_MODELS).replace(`k: ${K}`, `k: ${K + 1}`));
    const before = server.requests.length;
    const capped = await runCli(dir, ['--max-cost', '0.0001'], env());
    runs.push(capped);
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(/9 requests could cost up to \$[\d.]+, over --max-cost \$0\.0001; nothing was sent/);
    expect(server.requests.length).toBe(before);
  });

  it('never writes the API key to cache/ or build/, nor prints it', async () => {
    for (const sub of ['cache', 'build']) {
      const tree = await readTree(path.join(dir, sub));
      expect(Object.keys(tree).length).toBeGreaterThan(0);
      for (const [file, text] of Object.entries(tree)) expect(text.includes(TEST_KEY), `${sub}/${file} holds the key`).toBe(false);
    }
    for (const r of runs) {
      expect(r.stdout.includes(TEST_KEY)).toBe(false);
      expect(r.stderr.includes(TEST_KEY)).toBe(false);
    }
  });
});
