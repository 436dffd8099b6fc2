/**
 * `asmgraph serve` in a real browser: Debian's Chromium driven by playwright-core against the real
 * server, watching a real project built with real g++ and the sandbox. No mocks, no sleeps: every
 * wait is for something the page shows.
 *
 * Set ASMGRAPH_SCREENSHOTS=docs to write the screenshots into docs/ (they are always taken).
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { idle, launchBrowser, shot, SHOTS, startServe, tableVerdicts, type Served } from './support/browser.js';
import { makeProject, REPO, runCli, toolchainFiles } from './support/cli.js';

const WAIT = 240_000;
/** The first build of the whole corpus: ~30 s on a quiet 2-core machine, several minutes on a busy one. */
const COLD = 900_000;

const programsOf = (names: string[]) => names.filter((f) => f.endsWith('.cpp')).map((f) => f.slice(0, -4));

async function corpusFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = await toolchainFiles();
  // Programs, prompts and the test cases beside them (`<name>.stdin.txt`, `<name>.inputs/*`).
  for (const e of await fsp.readdir(path.join(REPO, 'sources'), { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !/\.(cpp|txt)$/.test(e.name)) continue;
    const rel = path.relative(REPO, path.join(e.parentPath, e.name));
    files[rel] = await fsp.readFile(path.join(REPO, rel), 'utf8');
  }
  files['pipeline.yaml'] = await fsp.readFile(path.join(REPO, 'pipeline.yaml'), 'utf8');
  files['curation.yaml'] = await fsp.readFile(path.join(REPO, 'curation.yaml'), 'utf8');
  return files;
}

/** The verdict of every program at `validated`, as a plain CLI build reports it. */
async function cliVerdicts(root: string): Promise<Record<string, string>> {
  const r = await runCli(root, ['--json', 'build', 'validated']);
  expect(r.code).toBe(0);
  const out: Record<string, string> = {};
  for (const e of r.events) {
    if (e.type === 'node-done' && e.target === 'validated' && e.item) out[e.item] = e.status === 'ok' ? 'ok' : e.reason;
  }
  return out;
}

describe('asmgraph serve: the bundled corpus in Chromium', () => {
  let root: string;
  let served: Served;
  let browser: { context: BrowserContext; close: () => Promise<void> };
  let page: Page;
  let shots: string;

  beforeAll(async () => {
    root = await makeProject(await corpusFiles());
    shots = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-shots-'));
    served = await startServe(root, ['-j', '2']);
    browser = await launchBrowser();
    page = await browser.context.newPage();
  }, WAIT);

  afterAll(async () => {
    await browser?.close();
    const code = await served?.stop();
    expect(code).toBe(0);
    await fsp.rm(root, { recursive: true, force: true });
    await fsp.rm(shots, { recursive: true, force: true });
  }, WAIT);

  it('lists every bundled program with the verdict a CLI build gives it', async () => {
    await page.goto(served.url);
    await idle(page, 1, COLD);
    const programs = (await fsp.readdir(path.join(root, 'sources'))).filter((f) => f.endsWith('.cpp')).map((f) => f.slice(0, -4)).sort();
    expect(programs.length).toBeGreaterThanOrEqual(70);
    const shown = await tableVerdicts(page);
    expect(Object.keys(shown).sort()).toEqual(programs);
    expect(shown).toEqual(await cliVerdicts(root));
    // The corpus is written to validate: every program is ok but the ones that print their running
    // time, which are nondeterministic on purpose.
    for (const [name, v] of Object.entries(shown)) expect(v, name).toBe(name.startsWith('timed_') ? 'nondeterministic' : 'ok');
    const tooLong = await page.$$eval('div.prog', (trs) => trs.filter((tr) => tr.textContent!.includes('excluded: too-long')).length);
    const report = JSON.parse(await fsp.readFile(path.join(root, 'build', 'dataset.report.json'), 'utf8'));
    expect(tooLong).toBe(report.excluded['too-long']?.count ?? 0);
    await shot(page, 'ui-table.png', shots);
  }, COLD);

  it('turns a row from ok to compile-error and back as the source is edited on disk, without a reload', async () => {
    const file = path.join(root, 'sources', 'add_8_and_120.cpp');
    const original = await fsp.readFile(file, 'utf8');
    await page.evaluate(() => ((window as unknown as { stillHere: number }).stillHere = 42));
    const row = 'div.prog[data-key="add_8_and_120"]';
    await page.waitForSelector(`${row}[data-verdict="ok"]`);
    await fsp.writeFile(file, original.replace('int b = 120;', 'int b = 120O;'));
    await page.waitForSelector(`${row}[data-verdict="compile-error"]`, { timeout: WAIT });
    const asmCell = await page.$eval(`${row} [data-target="asm"]`, (td) => ({ status: (td as HTMLElement).dataset.status, reason: (td as HTMLElement).dataset.reason }));
    expect(asmCell).toEqual({ status: 'rejected', reason: 'compile-error' });
    expect(await page.$eval(`${row} .msg`, (td) => td.textContent)).toMatch(/sources\/add_8_and_120\.cpp:\d+:\d+: error/);
    await page.click('button.chip[data-v="failing"]');
    await page.waitForSelector(`${row}`);
    // The broken program, and the ones that are not ok on purpose (they print their running time).
    const notOk = programsOf(await fsp.readdir(path.join(root, 'sources'))).filter((n) => n.startsWith('timed_'));
    expect((await page.$$eval('div.prog', (trs) => trs.map((tr) => tr.getAttribute('data-key')))).sort()).toEqual(['add_8_and_120', ...notOk].sort());
    await shot(page, 'ui-failing.png', shots);
    await fsp.writeFile(file, original);
    await page.waitForSelector(`${row}`, { state: 'detached', timeout: WAIT }); // no longer failing
    await page.click('button.chip[data-v=""]');
    await page.waitForSelector(`${row}[data-verdict="ok"]`, { timeout: WAIT });
    expect(await page.evaluate(() => (window as unknown as { stillHere: number }).stillHere)).toBe(42);
  }, WAIT);

  it('shows a program: C++, prompt, highlighted assembly mapped to source lines', async () => {
    await page.click('div.prog[data-key="bubble_sort"] .name a');
    await page.waitForSelector('#program-name');
    expect(await page.textContent('#program-name')).toBe('bubble_sort');
    expect(await page.textContent('#cpp')).toContain('bubbleSort');
    expect(await page.inputValue('#prompt')).toContain('bubble sort');
    expect(await page.$eval('#asm', (el) => (el as HTMLElement).dataset.target)).toBe('validated');
    expect(await page.$$eval('#asm .hljs-keyword, #asm .hljs-built_in, #asm .hljs-meta', (x) => x.length)).toBeGreaterThan(10);
    // -fverbose-asm gives source lines: `for (…)` of bubbleSort maps to assembly lines.
    await page.waitForFunction(() => document.querySelectorAll('#asm .ln[data-src]').length > 20, undefined, { timeout: WAIT });
    const cppLine = await page.$$eval('#cpp .ln', (lns) => lns.findIndex((l) => /swap|temp/.test(l.textContent!)) + 1);
    expect(cppLine).toBeGreaterThan(0);
    expect(await page.$$eval(`#asm .ln[data-src="${cppLine}"]`, (x) => x.length)).toBeGreaterThan(0);
    await page.hover(`#cpp .ln[data-n="${cppLine}"]`);
    expect(await page.$$eval('#asm .ln.hl', (x) => x.length)).toBeGreaterThan(0);
    await shot(page, 'ui-program.png', shots);
  }, WAIT);

  it("shows a program's test cases: each file of its inputs folder, with its stdin", async () => {
    await page.goto(`${served.url}#/p/stdin_stack_menu`);
    await page.waitForFunction(() => document.querySelector('#program-name')?.textContent === 'stdin_stack_menu', undefined, { timeout: WAIT });
    await page.waitForFunction(() => document.body.textContent!.includes('Test cases'), undefined, { timeout: WAIT });
    const body = (await page.textContent('body'))!;
    for (const c of await fsp.readdir(path.join(REPO, 'sources', 'stdin_stack_menu.inputs'))) {
      expect(body).toContain(c);
      const stdin = (await fsp.readFile(path.join(REPO, 'sources', 'stdin_stack_menu.inputs', c), 'utf8')).trim();
      expect(body.replace(/\s+/g, ' ')).toContain(stdin.replace(/\s+/g, ' '));
    }
    // Back where the next case expects the page to be.
    await page.goto(`${served.url}#/p/bubble_sort`);
    await page.waitForFunction(() => document.querySelector('#program-name')?.textContent === 'bubble_sort', undefined, { timeout: WAIT });
  }, WAIT);

  it('excluding a program from the page writes curation.yaml and removes it from train.jsonl after the rebuild', async () => {
    const prompt = (await fsp.readFile(path.join(root, 'sources', 'bubble_sort.prompt.txt'), 'utf8')).trim();
    const data = async () => (await fsp.readFile(path.join(root, 'build', 'train.jsonl'), 'utf8')) + (await fsp.readFile(path.join(root, 'build', 'valid.jsonl'), 'utf8'));
    expect(await data()).toContain(JSON.stringify(prompt).slice(1, -1));
    await page.fill('#note', 'too close to the seed example');
    await page.click('#exclude');
    await page.waitForFunction(() => document.querySelector('#curate')?.textContent?.includes('Excluded from the dataset'), undefined, { timeout: WAIT });
    expect(await fsp.readFile(path.join(root, 'curation.yaml'), 'utf8')).toMatch(/bubble_sort:\s*\n\s*note: too close to the seed example/);
    expect(await data()).not.toContain(JSON.stringify(prompt).slice(1, -1));
    // A plain CLI build sees the same decision: nothing to do, and the report names it.
    const r = await runCli(root, ['--json', 'build']);
    expect(r.code).toBe(0);
    expect(r.events.find((e) => e.type === 'build-done')!.summary.executed).toBe(0);
    const report = JSON.parse(await fsp.readFile(path.join(root, 'build', 'dataset.report.json'), 'utf8'));
    expect(report.excluded.curated.items).toEqual(['bubble_sort']);
    expect(report.curated).toEqual({ bubble_sort: 'too close to the seed example' });
  }, WAIT);

  it('saving a prompt writes the sidecar, and the rebuilt dataset carries it', async () => {
    await idle(page, 1);
    await page.goto(`${served.url}#/p/fizzbuzz`);
    // The same document (only the hash changes): wait for fizzbuzz's page, not the one before it.
    await page.waitForFunction(() => document.querySelector('#program-name')?.textContent === 'fizzbuzz', undefined, { timeout: WAIT });
    const text = 'Write an Assembler program that prints FizzBuzz for 1 to 15, one per line (edited in the page).';
    await page.fill('#prompt', text);
    await page.click('#save-prompt');
    await page.waitForFunction(() => document.querySelector('#prompt-status')?.textContent?.startsWith('written to sources/fizzbuzz.prompt.txt'), undefined, { timeout: WAIT });
    expect(await fsp.readFile(path.join(root, 'sources', 'fizzbuzz.prompt.txt'), 'utf8')).toBe(`${text}\n`);
    await page.waitForFunction((t) => (document.querySelector('#prompt') as HTMLTextAreaElement | null)?.value.trim() === t, text, { timeout: WAIT });
    await idle(page, 1);
    const all = async () => (await fsp.readFile(path.join(root, 'build', 'train.jsonl'), 'utf8')) + (await fsp.readFile(path.join(root, 'build', 'valid.jsonl'), 'utf8'));
    await expect.poll(all, { timeout: WAIT, interval: 200 }).toContain('(edited in the page)');
  }, WAIT);

  it('draws the dataset plots as inline SVG', async () => {
    await page.goto(`${served.url}#/plots`);
    await page.waitForSelector('svg[data-plot="tokens"]');
    const bars = await page.$$eval('svg[data-plot="tokens"] rect.bar:not(.legend)', (x) => x.length);
    const report = JSON.parse(await fsp.readFile(path.join(root, 'build', 'dataset.report.json'), 'utf8'));
    expect(bars).toBe(report.examples.total + (report.excluded['too-long']?.count ?? 0));
    expect(await page.$$eval('svg[data-plot="tokens"] line.limit', (x) => x.length)).toBeGreaterThan(0);
    expect(await page.textContent('svg[data-plot="verdicts"]')).toContain('ok');
    expect(await page.textContent('svg[data-plot="cost"]')).toContain('gpt-4o-mini');
    await shot(page, 'ui-plots.png', shots);
  }, WAIT);
});

// A pipeline whose validated assembly was tampered with: a real output mismatch to diff.
const TAMPERED = `version: 1
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
  dataset: { kind: dataset, from: validated, with: { source: programs, curation: curation } }
`;

describe('asmgraph serve: from "which programs fail?" to the diff', () => {
  let root: string;
  let served: Served;
  let browser: { context: BrowserContext; close: () => Promise<void> };

  beforeAll(async () => {
    const files: Record<string, string> = { ...(await toolchainFiles()), 'pipeline.yaml': TAMPERED, 'curation.yaml': 'exclude: {}\n' };
    for (const n of ['add_8_and_120', 'bubble_sort']) {
      for (const ext of ['.cpp', '.prompt.txt']) files[`sources/${n}${ext}`] = await fsp.readFile(path.join(REPO, 'sources', `${n}${ext}`), 'utf8');
    }
    root = await makeProject(files);
    served = await startServe(root, ['-j', '2']);
    browser = await launchBrowser();
  }, WAIT);

  afterAll(async () => {
    await browser?.close();
    expect(await served?.stop()).toBe(0);
    await fsp.rm(root, { recursive: true, force: true });
  }, WAIT);

  it('takes two clicks: the failing filter, then the row', async () => {
    const page = await browser.context.newPage();
    await page.goto(served.url);
    await idle(page, 1);
    expect(await tableVerdicts(page)).toEqual({ add_8_and_120: 'output-mismatch', bubble_sort: 'ok' });
    await page.click('button.chip[data-v="failing"]'); // click 1
    await page.click('div.prog[data-key="add_8_and_120"] .msg'); // click 2
    await page.waitForSelector('#diff');
    const del = await page.$$eval('#diff tr.del td.code', (x) => x.map((t) => t.textContent));
    const ins = await page.$$eval('#diff tr.ins td.code', (x) => x.map((t) => t.textContent));
    expect(del).toEqual(['The sum of 8 and 120 is: 128']);
    expect(ins).toEqual(['The total of 8 and 120 is: 128']);
    expect(await page.textContent('#rejections')).toContain('output-mismatch');
    await shot(page, 'ui-diff.png', os.tmpdir());
    if (!SHOTS) await fsp.rm(path.join(os.tmpdir(), 'ui-diff.png'), { force: true });
  }, WAIT);

  it('answers only on loopback names, and refuses writes across origins', async () => {
    const u = new URL(served.url);
    const bad = await fetchRaw(u, '/api/state', { host: 'attacker.example' });
    expect(bad.status).toBe(421);
    const ok = await fetch(new URL('/api/state', u));
    expect(ok.status).toBe(200);
    const cross = await fetch(new URL('/api/exclude', u), { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://attacker.example' }, body: JSON.stringify({ key: 'bubble_sort' }) });
    expect(cross.status).toBe(403);
    const form = await fetch(new URL('/api/exclude', u), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"key":"bubble_sort"}' });
    expect(form.status).toBe(415);
    expect(await fsp.readFile(path.join(root, 'curation.yaml'), 'utf8')).toBe('exclude: {}\n');
  });
});

describe('asmgraph serve: tokens', () => {
  it('requires the token when one is set, and trades it for a cookie', async () => {
    const root = await makeProject({ 'pipeline.yaml': 'version: 1\ntargets:\n  texts: { kind: files, params: { glob: "*.txt" } }\n', 'a.txt': 'a\n' });
    const token = 'a-test-token-of-32-characters-xx';
    const served = await startServe(root, [], { ASMGRAPH_SERVE_TOKEN: token });
    try {
      const u = new URL(served.url);
      expect(u.searchParams.get('token')).toBe(token);
      const base = new URL('/', u);
      expect((await fetch(new URL('/api/state', base))).status).toBe(401);
      expect((await fetch(new URL('/api/state?token=wrong-token-of-32-characters-xxx', base))).status).toBe(401);
      const traded = await fetch(u, { redirect: 'manual' });
      expect(traded.status).toBe(303);
      const cookie = traded.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect((await fetch(new URL('/api/state', base), { headers: { cookie: cookie.split(';')[0] } })).status).toBe(200);
      expect((await fetch(new URL('/api/state', base), { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      expect(await served.stop()).toBe(0);
    }
    // Nothing the server wrote holds the token.
    const { readTree } = await import('./support/cli.js');
    for (const [f, text] of Object.entries(await readTree(root))) expect(text.includes(token), f).toBe(false);
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('refuses another interface without a way in, and a port in use, with exit 2', async () => {
    const root = await makeProject({ 'pipeline.yaml': 'version: 1\ntargets:\n  texts: { kind: files, params: { glob: "*.txt" } }\n', 'a.txt': 'a\n' });
    const short = await runCli(root, ['serve', '--port', '0', '--host', '0.0.0.0', '--token', 'short']);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('--token must be at least 16 characters');
    const first = await startServe(root);
    try {
      const port = new URL(first.url).port;
      const again = await runCli(root, ['serve', '--port', port]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    const noWatch = await runCli(root, ['build', '--ui']);
    expect(noWatch.code).toBe(2);
    expect(noWatch.stderr).toContain('--ui needs --watch');
    const portOnly = await runCli(root, ['build', '--port', '0']);
    expect(portOnly.code).toBe(2);
    expect(portOnly.stderr).toContain('--port, --host and --token go with --watch --ui');
    await fsp.rm(root, { recursive: true, force: true });
  });
});

/** A GET with a chosen Host header (fetch does not allow setting it). */
async function fetchRaw(u: URL, p: string, headers: Record<string, string>): Promise<{ status: number }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: p, headers }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.on('error', reject);
    req.end();
  });
}
