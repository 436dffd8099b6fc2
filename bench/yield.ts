/**
 * The yield section of `npm run bench`: how many programs of a corpus become examples, and how
 * long they are, before and after per-program variants, model limits, the new cleaning filters
 * and local headers (issue 15).
 *
 *   BENCH_CORPUS=/path/a,/path/b  folders of C++ (.cpp files with a `main`, headers beside them);
 *                                 default: the bundled corpus
 *   BENCH_CORPUS_SAMPLE=N         at most N programs per corpus (every k-th, sorted by path)
 *
 * Each corpus is copied into the bench work folder (never into the repository), with a generic
 * request per program where it has none. One project builds two pipelines over one cache:
 * "before" (the pipeline as it was: -O0 only, the older cleaning filters, no header inlining) and
 * "after" (the default pipeline.yaml: -O0 with the -Os fallback, every filter, headers inlined).
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { encodeO200k } from '../tasks/lib/tokens.js';
import { FILTERS_V1 } from '../tasks/lib/asm-clean.js';

export interface YieldFigures {
  programs: number;
  validated: number;
  examples: number;
  lost: Record<string, number>;
  tokensMedian: number;
  tokensMax: number;
  answersOver16k: number;
  costUsd: number | null;
  variants?: Record<string, number>;
  /** o200k tokens of the -O0 assembly kept by validation vs the raw -O0 file, over every validated program. */
  cleaningAtO0: { raw: number; kept: number; savedPct: number; fellBack: number };
}

export interface YieldCorpus {
  name: string;
  folder: string;
  programs: number;
  withLocalHeaders: number;
  buildMs: number;
  before: YieldFigures;
  after: YieldFigures;
}

const HEADER_EXT = /\.(h|hh|hpp|hxx|inc|ipp|tpp)$/;

async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}

function pipelineText(repoPipeline: string): string {
  // The default pipeline's x86-64 targets, over every .cpp below sources/.
  const cut = repoPipeline.indexOf('  # Cross targets');
  const after = (cut > 0 ? repoPipeline.slice(0, cut) : repoPipeline).replace('glob: sources/*.cpp', 'glob: sources/**/*.cpp');
  const before = `
  b-programs:
    kind: files
    params: { glob: sources/**/*.cpp, sidecars: { prompt: "{stem}.prompt.txt" }, localHeaders: false }
  b-asm:
    kind: compile
    from: b-programs
    params: { toolchain: x86_64, opt: O0 }
  b-cleaned:
    kind: compile
    from: b-programs
    params: { toolchain: x86_64, opt: O0, clean: { filters: [${FILTERS_V1.join(', ')}] } }
  b-validated:
    kind: validate
    from: b-cleaned
    with: { raw: b-asm, source: b-programs }
    params: { toolchain: x86_64, opt: O0 }
  b-dataset:
    kind: dataset
    from: b-validated
    with: { source: b-programs }
    out: build/before
    params: { model: gpt-4o-mini-2024-07-18, maxAnswerTokens: 1000000 }
`;
  return `${after.trimEnd()}\n${before}`;
}

export async function setupYieldProject(repo: string, corpus: string, dir: string, sample?: number): Promise<{ programs: number; withLocalHeaders: number }> {
  const files = await walk(corpus);
  const mains: string[] = [];
  for (const f of files.filter((x) => x.endsWith('.cpp'))) {
    const text = await fsp.readFile(path.join(corpus, f), 'utf8').catch(() => '');
    if (/\bmain\s*\(/.test(text)) mains.push(f);
  }
  const step = sample && mains.length > sample ? mains.length / sample : 1;
  const chosen = step === 1 ? mains : Array.from({ length: sample! }, (_, i) => mains[Math.floor(i * step)]!);
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(path.join(dir, 'sources'), { recursive: true });
  await fsp.cp(path.join(repo, 'toolchain'), path.join(dir, 'toolchain'), { recursive: true });
  let withLocalHeaders = 0;
  for (const f of [...chosen, ...files.filter((x) => HEADER_EXT.test(x))]) {
    const to = path.join(dir, 'sources', f);
    await fsp.mkdir(path.dirname(to), { recursive: true });
    await fsp.copyFile(path.join(corpus, f), to);
  }
  for (const f of chosen) {
    const stem = f.replace(/\.cpp$/, '');
    const text = await fsp.readFile(path.join(corpus, f), 'utf8');
    if (/^\s*#\s*include\s*"/m.test(text)) withLocalHeaders++;
    // Test cases beside a program (the files kind's `cases`): `<stem>.stdin.txt`, `<stem>.inputs/`.
    for (const side of [`${stem}.stdin.txt`, `${stem}.inputs`]) {
      if (existsSync(path.join(corpus, side))) await fsp.cp(path.join(corpus, side), path.join(dir, 'sources', side), { recursive: true });
    }
    const prompt = path.join(corpus, `${stem}.prompt.txt`);
    const req = existsSync(prompt) ? await fsp.readFile(prompt, 'utf8') : `Write a C++ program: ${path.basename(stem).replace(/[_-]+/g, ' ')}.\n`;
    await fsp.writeFile(path.join(dir, 'sources', `${stem}.prompt.txt`), req);
  }
  await fsp.writeFile(path.join(dir, 'pipeline.yaml'), pipelineText(await fsp.readFile(path.join(repo, 'pipeline.yaml'), 'utf8')));
  return { programs: chosen.length, withLocalHeaders };
}

async function cleaningAtO0(dir: string, rawDir: string, keptDir: string): Promise<YieldFigures['cleaningAtO0']> {
  let raw = 0;
  let kept = 0;
  let fellBack = 0;
  const keptFiles = existsSync(keptDir) ? (await walk(keptDir)).filter((f) => f.endsWith('.s') && !f.endsWith('.safe.s')) : [];
  for (const f of keptFiles) {
    const r = path.join(rawDir, f);
    if (!existsSync(r)) continue;
    const rawText = await fsp.readFile(r, 'utf8');
    const keptText = await fsp.readFile(path.join(keptDir, f), 'utf8');
    if (rawText === keptText) fellBack++;
    raw += encodeO200k(rawText).length;
    kept += encodeO200k(keptText).length;
  }
  void dir;
  return { raw, kept, savedPct: raw ? Math.round((1 - kept / raw) * 1000) / 10 : 0, fellBack };
}

function figures(report: any, cleaning: YieldFigures['cleaningAtO0']): YieldFigures {
  const lost: Record<string, number> = {};
  for (const [reason, v] of Object.entries(report.excluded ?? {}) as [string, { count: number }][]) lost[reason] = v.count;
  const per: any[] = report.perExample ?? [];
  return {
    programs: report.items,
    validated: report.verdicts?.ok ?? 0,
    examples: report.examples.total,
    lost,
    tokensMedian: report.tokens.median,
    tokensMax: report.tokens.max,
    answersOver16k: per.filter((e) => e.assistantTokens > 16_384).length,
    costUsd: report.cost.usd,
    variants: report.variants,
    cleaningAtO0: cleaning,
  };
}

function runCli(cli: string, cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

export async function measureYield(repo: string, cli: string, work: string, corpus: string, jobs: number, sample?: number): Promise<YieldCorpus> {
  const name = path.basename(path.resolve(corpus));
  const dir = path.join(work, `yield-${name}`);
  const setup = await setupYieldProject(repo, corpus, dir, sample);
  const t0 = performance.now();
  const r = await runCli(cli, dir, ['build', '-k', '-q', '-j', String(jobs), 'b-dataset', 'dataset']);
  const buildMs = performance.now() - t0;
  const reportOf = async (rel: string) => JSON.parse(await fsp.readFile(path.join(dir, rel), 'utf8').catch(() => {
    throw new Error(`${name}: no ${rel} (build exit ${r.code}): ${r.out.split('\n').slice(-6).join(' | ')}`);
  }));
  const before = figures(await reportOf('build/before/dataset.report.json'), await cleaningAtO0(dir, path.join(dir, 'build/b-asm'), path.join(dir, 'build/b-validated')));
  const after = figures(await reportOf('build/dataset.report.json'), await cleaningAtO0(dir, path.join(dir, 'build/asm'), path.join(dir, 'build/validated')));
  return { name, folder: corpus, programs: setup.programs, withLocalHeaders: setup.withLocalHeaders, buildMs, before, after };
}

export function renderYield(cs: YieldCorpus[]): string[] {
  const out: string[] = [];
  const lost = (f: YieldFigures) => Object.entries(f.lost).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  for (const c of cs) {
    out.push(`**${c.name}** (${c.programs} programs, ${c.withLocalHeaders} with local headers; both pipelines built in ${(c.buildMs / 1000).toFixed(0)} s)`, '');
    out.push('| | before | after |', '|---|---|---|');
    const row = (label: string, f: (x: YieldFigures) => string) => out.push(`| ${label} | ${f(c.before)} | ${f(c.after)} |`);
    row('programs → validated → examples', (x) => `${x.programs} → ${x.validated} → ${x.examples} (${x.validated ? Math.round((x.examples / x.validated) * 100) : 0} % of validated)`);
    row('lost, by reason', lost);
    row('tokens per example, median / max', (x) => `${x.tokensMedian} / ${x.tokensMax}`);
    row('answers over 16,384 tokens', (x) => String(x.answersOver16k));
    row('-O0 assembly tokens, raw → kept (cleaning)', (x) => `${x.cleaningAtO0.raw} → ${x.cleaningAtO0.kept} (−${x.cleaningAtO0.savedPct} %, ${x.cleaningAtO0.fellBack} kept raw)`);
    row('variants taken', (x) => (x.variants ? Object.entries(x.variants).map(([k, v]) => `${k} ${v}`).join(', ') : 'O0 only'));
    row('estimated fine-tuning cost', (x) => (x.costUsd === null ? 'n/a' : `$${x.costUsd.toFixed(2)}`));
    out.push('');
  }
  return out;
}
