/**
 * More of `asmgraph serve` in a real browser (Debian's Chromium via playwright-core, the real CLI,
 * real g++ and the sandbox): the table's filters, a program's verdict history, the eval view against
 * the local OpenAI-compatible test server, and that the page loads nothing from anywhere else.
 * No mocks, no sleeps: every wait is for something the page shows.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { idle, launchBrowser, shot, shownKeys, startServe, tableVerdicts, type Served } from './support/browser.js';
import { makeProject, REPO, toolchainFiles } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer } from './support/openai-server.js';

const WAIT = 240_000;

async function corpusProgram(name: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const ext of ['.cpp', '.prompt.txt']) out[`sources/${name}${ext}`] = await fsp.readFile(path.join(REPO, 'sources', `${name}${ext}`), 'utf8');
  return out;
}

// Three verdicts at `validated` and two targets that disagree: add_8_and_120's assembly is tampered
// with after `asm` (ok at asm, output-mismatch at validated); `broken` does not compile.
const FILTERS = `version: 1
default: [dataset]
targets:
  programs: { kind: files, params: { glob: sources/*.cpp, sidecars: { prompt: "{stem}.prompt.txt" } } }
  curation: { kind: files, params: { glob: curation.yaml } }
  asm: { kind: compile, from: programs, params: { opt: O0 } }
  tampered:
    kind: command
    from: asm
    params: { run: 'sed "s/The sum of /The total of /" "$IN" > "$OUT"', outputs: { s: .s } }
  validated: { kind: validate, from: tampered, with: { source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs, curation: curation }, params: { validFraction: 0.5 } }
`;
const OK_PROGRAMS = ['bubble_sort', 'factorial_recursive', 'fizzbuzz', 'gcd_lcm', 'hello_banner', 'max_of_three'];
const ALL = [...OK_PROGRAMS, 'add_8_and_120', 'broken'].sort();

/** The table needs no build to re-filter: a short wait, so a failure names the filter that broke. */
const expectShown = (page: Page, keys: string[]) => expect.poll(() => shownKeys(page), { timeout: 60_000 }).toEqual(keys);

describe('asmgraph serve: filters and history', () => {
  let root: string;
  let served: Served;
  let browser: { context: BrowserContext; close: () => Promise<void> };
  let page: Page;

  beforeAll(async () => {
    const files: Record<string, string> = {
      ...(await toolchainFiles()),
      'pipeline.yaml': FILTERS,
      'curation.yaml': 'exclude:\n  hello_banner:\n    note: too plain\n',
      'sources/broken.cpp': '#include <cstdio>\n\nint main() {\n    std::puts("never");\n    return missing;\n}\n',
      'sources/broken.prompt.txt': 'Write an Assembler program that does not compile.\n',
    };
    for (const n of [...OK_PROGRAMS, 'add_8_and_120']) Object.assign(files, await corpusProgram(n));
    root = await makeProject(files);
    served = await startServe(root, ['-j', '2']);
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.goto(served.url);
    await idle(page, 1);
  }, WAIT);

  afterAll(async () => {
    await browser?.close();
    expect(await served?.stop()).toBe(0);
    await fsp.rm(root, { recursive: true, force: true });
  }, WAIT);

  it('applies the verdict chips to the target chosen in the select', async () => {
    const expected: Record<string, string> = Object.fromEntries(OK_PROGRAMS.map((n) => [n, 'ok']));
    expected.add_8_and_120 = 'output-mismatch';
    expected.broken = 'compile-error';
    expect(await tableVerdicts(page)).toEqual(expected);
    // The default target is the dataset's input, validated.
    expect(await page.inputValue('#f-target')).toBe('validated');
    await page.click('button.chip[data-v="ok"]');
    await expectShown(page, OK_PROGRAMS);
    expect(await page.$('button.chip[data-v="output-mismatch"]')).not.toBeNull();
    // At asm, the tampered program still compiled fine: it is ok there, and no chip says mismatch.
    await page.selectOption('#f-target', 'asm');
    await expectShown(page, [...OK_PROGRAMS, 'add_8_and_120'].sort());
    expect(await page.inputValue('#f-target')).toBe('asm');
    expect(await page.$('button.chip[data-v="output-mismatch"]')).toBeNull();
    expect(await page.textContent('button.chip[data-v="compile-error"] .count')).toBe('1');
    expect(await page.evaluate(() => location.hash)).toBe('#/?v=ok&t=asm');
    await page.click('button.chip[data-v="failing"]');
    await expectShown(page, ['broken']);
    await page.selectOption('#f-target', 'validated');
    await expectShown(page, ['add_8_and_120', 'broken']);
    // A filtered view is a bookmark.
    const other = await browser.context.newPage();
    await other.goto(`${served.url}#/?v=ok&t=asm`);
    await expectShown(other, [...OK_PROGRAMS, 'add_8_and_120'].sort());
    await other.close();
  }, WAIT);

  it('filters by split: train, valid and excluded, as the dataset report has them', async () => {
    const report = JSON.parse(await fsp.readFile(path.join(root, 'build', 'dataset.report.json'), 'utf8'));
    const of = (split: string) => (report.perExample as { key: string; split: string }[]).filter((e) => e.split === split).map((e) => e.key).sort();
    const excluded = Object.values(report.excluded as Record<string, { items: string[] }>).flatMap((x) => x.items).sort();
    // The fixture has both splits (validFraction 0.5, split by content hash), and every exclusion reason.
    expect(of('train').length).toBeGreaterThan(0);
    expect(of('valid').length).toBeGreaterThan(0);
    expect([...of('train'), ...of('valid')].sort()).toEqual(OK_PROGRAMS.filter((n) => n !== 'hello_banner'));
    expect(excluded).toEqual(['add_8_and_120', 'broken', 'hello_banner']);
    expect(report.excluded.curated.items).toEqual(['hello_banner']);
    await page.click('button.chip[data-v=""]');
    await expectShown(page, ALL);
    await page.selectOption('#f-split', 'train');
    await expectShown(page, of('train'));
    await page.selectOption('#f-split', 'valid');
    await expectShown(page, of('valid'));
    await page.selectOption('#f-split', 'excluded');
    await expectShown(page, excluded);
    expect(await page.textContent('div.prog[data-key="hello_banner"]')).toContain('excluded: curated');
    // Split and verdict filters combine.
    await page.click('button.chip[data-v="failing"]');
    await expectShown(page, ['add_8_and_120', 'broken']);
    await page.selectOption('#f-split', '');
    await page.click('button.chip[data-v=""]');
    await expectShown(page, ALL);
  }, WAIT);

  it('searches by name (case-insensitive), with the other filters', async () => {
    await page.fill('#f-search', 'b');
    await expectShown(page, ALL.filter((n) => n.includes('b')));
    await page.fill('#f-search', 'FIZZ');
    await expectShown(page, ['fizzbuzz']);
    expect(await page.evaluate(() => location.hash)).toBe('#/?s=FIZZ');
    expect(await page.textContent('#shown')).toBe(`1 of ${ALL.length} programs`);
    await page.fill('#f-search', 'a');
    await page.click('button.chip[data-v="failing"]');
    await expectShown(page, ['add_8_and_120']); // "broken" has no "a"
    await page.fill('#f-search', 'no such program');
    await expectShown(page, []);
    await page.fill('#f-search', '');
    await page.click('button.chip[data-v=""]');
    await expectShown(page, ALL);
  }, WAIT);

  it("lists a program's verdicts since the page was opened: ok → compile-error → ok", async () => {
    const file = path.join(root, 'sources', 'fizzbuzz.cpp');
    const original = await fsp.readFile(file, 'utf8');
    const p = await browser.context.newPage();
    await p.goto(`${served.url}#/p/fizzbuzz`);
    await p.waitForFunction(() => document.querySelector('#program-name')?.textContent === 'fizzbuzz', undefined, { timeout: WAIT });
    const verdicts = () => p.$$eval('#history li[data-verdict]', (lis) => lis.map((li) => (li as HTMLElement).dataset.verdict));
    expect(await verdicts()).toEqual(['ok']);
    await p.evaluate(() => ((window as unknown as { stillHere: number }).stillHere = 7));
    await fsp.writeFile(file, `${original}\nint oops = ;\n`);
    await expect.poll(verdicts, { timeout: 180_000 }).toEqual(['ok', 'compile-error']);
    expect(await p.textContent('#history li:nth-child(2)')).toContain('asm ✗ compile-error');
    expect(await p.textContent('#rejections')).toMatch(/sources\/fizzbuzz\.cpp:\d+:\d+: error/);
    await fsp.writeFile(file, original);
    await expect.poll(verdicts, { timeout: 180_000 }).toEqual(['ok', 'compile-error', 'ok']);
    await p.waitForSelector('#program-name[data-verdict="ok"]', { timeout: WAIT });
    expect(await p.textContent('#history li:nth-child(3)')).toContain('validated ✓');
    expect(await p.evaluate(() => (window as unknown as { stillHere: number }).stillHere)).toBe(7); // no reload
    // The history is the page's: one opened now starts from the current verdict.
    await idle(p, 3);
    const fresh = await browser.context.newPage();
    await fresh.goto(`${served.url}#/p/fizzbuzz`);
    await fresh.waitForSelector('#history li[data-verdict]', { timeout: WAIT });
    expect(await fresh.$$eval('#history li[data-verdict]', (lis) => lis.map((li) => (li as HTMLElement).dataset.verdict))).toEqual(['ok']);
    await fresh.close();
    await p.close();
  }, WAIT);
});

// ------------------------------------------------------------------ eval, and nothing from elsewhere

const PROGRAMS: Record<string, { cpp: string; prompt: string }> = {
  sum: {
    cpp: '#include <cstdio>\n\nint main() {\n    std::puts("The sum of 8 and 120 is:");\n    std::printf("%d\\n", 8 + 120);\n    return 0;\n}\n',
    prompt: 'Write an Assembler program that will add numbers 8 and 120.',
  },
  count: {
    cpp: '#include <cstdio>\n\nint main() {\n    for (int i = 1; i <= 3; i++) std::printf("%d\\n", i);\n    return 0;\n}\n',
    prompt: 'Write an Assembler program that counts from 1 to 3, one number per line.',
  },
};
const BASE = 'gpt-4o-mini';
const NANO = 'gpt-4.1-nano';
const EVAL = `version: 1
default: [eval]
targets:
  programs: { kind: files, params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs }
  validated: { kind: validate, from: asm, with: { source: programs }, params: { timeoutMs: 3000 } }
  dataset: { kind: dataset, from: validated, with: { source: programs } }
  eval:
    kind: eval
    from: dataset
    with: { validated: validated, source: programs }
    params:
      split: all
      k: 2
      timeoutMs: 1500
      models:
        - { id: ${BASE}, label: base }
        - { id: ${NANO}, label: nano }
`;
const fence = (asm: string) => `Here is the assembly:\n\n\`\`\`asm\n${asm.trimEnd()}\n\`\`\`\n`;
const PROSE = 'I would rather not write assembly by hand; compile the C++ program with g++ -S instead.';

describe('asmgraph serve: the eval view, offline', () => {
  let root: string;
  let served: Served;
  let server: OpenAIServer;
  let browser: { context: BrowserContext; close: () => Promise<void> };
  let shots: string;

  beforeAll(async () => {
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-ui-eval-gxx-'));
    const asmOf: Record<string, string> = {};
    for (const [key, p] of Object.entries(PROGRAMS)) {
      await fsp.writeFile(path.join(work, 'prog.cpp'), p.cpp);
      execFileSync('g++', ['-std=gnu++17', '-O0', '-S', 'prog.cpp', '-o', 'prog.s'], { cwd: work });
      asmOf[key] = await fsp.readFile(path.join(work, 'prog.s'), 'utf8');
    }
    await fsp.rm(work, { recursive: true, force: true });
    // Per model, prompt and sample (the request's seed): base solves sum once, count never; nano
    // solves sum twice and count once. Everything else is prose without assembly (no-asm).
    const answers: Record<string, Record<string, string[]>> = {
      [BASE]: { sum: [fence(asmOf.sum!), PROSE], count: [PROSE, PROSE] },
      [NANO]: { sum: [fence(asmOf.sum!), fence(asmOf.sum!)], count: [PROSE, fence(asmOf.count!)] },
    };
    server = await startOpenAIServer({
      apiKey: TEST_KEY,
      responder: (body) => {
        const key = Object.keys(PROGRAMS).find((k) => PROGRAMS[k]!.prompt === body.messages.at(-1).content);
        const a = key && answers[body.model]?.[key]?.[body.seed];
        if (!a) throw new Error(`no canned answer for ${body.model} ${key} seed ${body.seed}`);
        return a;
      },
    });
    const files: Record<string, string> = { ...(await toolchainFiles()), 'pipeline.yaml': EVAL };
    for (const [key, p] of Object.entries(PROGRAMS)) {
      files[`src/${key}.cpp`] = p.cpp;
      files[`src/${key}.prompt.txt`] = `${p.prompt}\n`;
    }
    root = await makeProject(files);
    shots = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-shots-'));
    served = await startServe(root, ['-j', '2'], { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });
    browser = await launchBrowser();
  }, WAIT);

  afterAll(async () => {
    await browser?.close();
    expect(await served?.stop()).toBe(0);
    await server?.stop();
    await fsp.rm(root, { recursive: true, force: true });
    await fsp.rm(shots, { recursive: true, force: true });
  }, WAIT);

  it('shows pass@1, pass@k and the matches per prompt and model from the eval report', async () => {
    const page = await browser.context.newPage();
    await page.goto(served.url);
    await idle(page, 1);
    await page.waitForSelector('#nav-eval:not([hidden])', { timeout: WAIT });
    await page.click('#nav-eval');
    await page.waitForSelector('#eval-models');
    const report = JSON.parse(await fsp.readFile(path.join(root, 'build', 'eval', 'report.json'), 'utf8'));
    expect(report.samples).toHaveLength(2 * 2 * 2);
    const figures = await page.$$eval('#eval-models tr[data-model]', (trs) => trs.map((tr) => ({
      model: (tr as HTMLElement).dataset.model,
      ...Object.fromEntries([...tr.querySelectorAll('[data-fig]')].map((td) => [(td as HTMLElement).dataset.fig, td.textContent])),
      values: [...tr.querySelectorAll('[data-value]')].map((td) => Number((td as HTMLElement).dataset.value)),
    })));
    // What the report says, and what the canned answers make it: base 1/2 and 0/2, nano 2/2 and 1/2.
    expect(figures.map((f) => f.model)).toEqual(report.metrics.models.map((m: { model: string }) => m.model));
    expect(figures.map((f) => f.values)).toEqual(report.metrics.models.map((m: { passAt1: number; passAtK: number }) => [m.passAt1, m.passAtK]));
    expect(figures).toEqual([
      { model: BASE, samples: '4', passAt1: '25.0 %', passAtK: '50.0 %', solved: '1/2', values: [0.25, 0.5] },
      { model: NANO, samples: '4', passAt1: '75.0 %', passAtK: '100.0 %', solved: '2/2', values: [0.75, 1] },
    ]);
    expect(await page.textContent('#eval-models')).toContain('pass@2');
    const cells = await page.$$eval('#eval-prompts td[data-model]', (tds) => tds.map((td) => `${(td as HTMLElement).dataset.model} ${(td as HTMLElement).dataset.prompt} ${td.textContent}`));
    expect(cells.sort()).toEqual([`${BASE} count 0/2`, `${BASE} sum 1/2`, `${NANO} count 1/2`, `${NANO} sum 2/2`].sort());
    for (const c of cells) {
      const [m, p, shown] = c.split(' ');
      const ss = report.samples.filter((s: { model: string; prompt: string }) => s.model === m && s.prompt === p);
      expect(shown, c).toBe(`${ss.filter((s: { verdict: string }) => s.verdict === 'ok').length}/${ss.length}`);
    }
    await shot(page, 'ui-eval.png', shots);

    // A prompt's row leads to its program page, which lists the eval samples.
    await page.click('#eval-prompts tr[data-prompt="count"] a');
    await page.waitForSelector('#eval-samples');
    expect(await page.textContent('#program-name')).toBe('count');
    const samples = await page.$$eval('#eval-samples tr[data-model]', (trs) => trs.map((tr) => `${(tr as HTMLElement).dataset.model} ${(tr as HTMLElement).dataset.index} ${(tr as HTMLElement).dataset.verdict}`));
    expect(samples.sort()).toEqual(report.samples.filter((s: { prompt: string }) => s.prompt === 'count').map((s: { model: string; index: number; verdict: string }) => `${s.model} ${s.index} ${s.verdict}`).sort());
    expect(samples.sort()).toEqual([`${BASE} 0 no-asm`, `${BASE} 1 no-asm`, `${NANO} 0 no-asm`, `${NANO} 1 ok`].sort());
    expect(await page.textContent('#eval-samples')).toContain('nano');
    await page.close();
  }, WAIT);

  it('loads everything from the local server: no request leaves 127.0.0.1', async () => {
    const page = await browser.context.newPage();
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    const origin = new URL(served.url).origin;
    const first = await page.goto(served.url);
    expect(first!.headers()['content-security-policy']).toMatch(/default-src 'self'/);
    await idle(page, 1);
    await page.waitForSelector('div.prog[data-key="sum"]');
    await page.click('div.prog[data-key="sum"] .name a');
    await page.waitForSelector('#asm .ln');
    await page.waitForFunction(() => document.querySelectorAll('#asm .ln[data-src]').length > 0, undefined, { timeout: WAIT });
    await page.click('a[data-nav="plots"]');
    await page.waitForSelector('svg[data-plot="tokens"]');
    await page.click('#nav-eval');
    await page.waitForSelector('#eval-models');
    await page.reload();
    await page.waitForSelector('#eval-models');
    const paths = urls.map((u) => new URL(u).pathname);
    for (const p of ['/', '/app.js', '/app.css', '/api/events', '/api/program', '/api/map', '/api/plots']) expect(paths, p).toContain(p);
    const elsewhere = urls.filter((u) => new URL(u).origin !== origin);
    expect(elsewhere).toEqual([]);
    await page.close();

    // And the files say so: no external script, style sheet, font or import.
    const html = await fsp.readFile(path.join(REPO, 'web', 'index.html'), 'utf8');
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(2);
    for (const r of refs) expect(r, r).toMatch(/^(\/(?!\/)|#)/);
    expect(html).not.toMatch(/https?:|\/\/[a-z]/i);
    const js = await fsp.readFile(path.join(REPO, 'web', 'app.js'), 'utf8');
    expect(js).not.toMatch(/https?:\/\/|\bimport\s*\(|^\s*import\s/m);
    const css = await fsp.readFile(path.join(REPO, 'web', 'app.css'), 'utf8');
    expect(css).not.toMatch(/@import|url\(|https?:/);
  }, WAIT);
});
