/**
 * Everything the program page shows about one program, read from the project and the build's
 * outputs (never from the page): the C++, its prompt and other sidecars, each target's assembly
 * highlighted, each rejection's full message, the expected vs actual output diff of a failing
 * case, and the model answers of an eval report.
 *
 * Source lines: the kept assembly carries none (no `-g`, comments cleaned away), so on request the
 * program is compiled once more with the same toolchain and flags plus `-fverbose-asm`, which makes
 * GCC write `# prog.cpp:12:  <the line>` before the instructions of each source line; the two
 * instruction streams are identical apart from comments, so each kept line is matched to the
 * verbose one in order. Compiling is not running: the untrusted program never runs outside the sandbox.
 */
import { existsSync, lstatSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { diffLines } from 'diff';
import { fileStemOf } from '../engine/items.js';
import type { Pipeline, TargetDef } from '../pipeline/model.js';
import { projectFolders } from '../folders.js';
import type { JsonObject, SourceKind } from '../task-api.js';
import { sha256 } from '../hash.js';
import { asmLanguage, escapeHtml, highlightLines } from './highlight.js';
import type { ProjectState } from './state.js';

const MAX_TEXT = 256 * 1024;
const MAX_DIFF_LINES = 2000;

async function readText(abs: string, max = MAX_TEXT): Promise<string | undefined> {
  try {
    const fh = await fsp.open(abs, 'r');
    try {
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      const st = await fh.stat();
      const text = buf.subarray(0, bytesRead).toString('utf8');
      return st.size > max ? `${text}\n… (${st.size - max} more bytes not shown)` : text;
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/** The `files` target that holds the programs (the dataset's or validator's `source`). */
export function sourceTargetOf(p: Pipeline, verdictTarget: string | undefined): TargetDef | undefined {
  const seen = new Set<string>();
  const walk = (name: string | undefined): TargetDef | undefined => {
    if (!name || seen.has(name)) return undefined;
    seen.add(name);
    const d = p.targets.get(name);
    if (!d) return undefined;
    if (d.mode === 'source') return d;
    return walk(d.with.source) ?? walk(d.from[0]);
  };
  return walk(verdictTarget) ?? [...p.targets.values()].find((d) => d.mode === 'source');
}

export interface ScannedPaths {
  paths: Map<string, Record<string, string>>;
}

/** Scans the programs' files target (glob + stat; cheap) for an item's file paths. */
export async function scanSources(p: Pipeline, def: TargetDef): Promise<Map<string, Record<string, string>>> {
  const scan = await (def.kind as SourceKind).scan({
    projectRoot: p.root, target: def.name, params: def.params,
    lstat: (rel) => lstatSync(path.join(p.root, rel), { throwIfNoEntry: false }),
  });
  return new Map(scan.items.map((it) => [it.base, it.paths]));
}

/** Where an item's prompt sidecar is, or would be. */
export function promptPathOf(def: TargetDef, paths: Record<string, string> | undefined): string | undefined {
  if (paths?.prompt) return paths.prompt;
  const pattern = (def.params.sidecars as Record<string, string> | undefined)?.prompt;
  const main = paths?.[String(def.params.as ?? 'src')];
  if (!pattern || !main) return undefined;
  return pattern.replace('{stem}', main.replace(/\.[^./]+$/, ''));
}

/** The compile target whose output a map target's `.s` is (validate keeps its input's, clean or raw). */
function producerOf(p: Pipeline, def: TargetDef, variant: string | undefined): TargetDef | undefined {
  for (let d: TargetDef | undefined = def, i = 0; d && i < 10; i++) {
    if (d.kindName === 'compile') return d;
    const next: string | undefined = variant === 'raw' && d.with.raw ? d.with.raw : d.from[0];
    d = next ? p.targets.get(next) : undefined;
  }
  return undefined;
}

function hasAsm(def: TargetDef): boolean {
  return def.mode === 'map' && def.kind.outputs(def.params).some((o) => o.ext === '.s');
}

export async function programDetail(state: ProjectState, key: string, sources: Map<string, Record<string, string>>): Promise<Record<string, unknown> | undefined> {
  const p = state.pipeline;
  const snap = state.snapshot();
  const row = state.row(key);
  const srcDef = sourceTargetOf(p, snap.verdictTarget);
  const paths = sources.get(key);
  if (!row && !paths) return undefined;
  const main = srcDef ? paths?.[String(srcDef.params.as ?? 'src')] : undefined;
  const cpp = main ? await readText(path.join(p.root, main)) : undefined;
  const promptPath = srcDef ? promptPathOf(srcDef, paths) : undefined;
  const prompt = promptPath ? await readText(path.join(p.root, promptPath)) : undefined;
  const sidecars: { name: string; path: string; text: string }[] = [];
  for (const [name, rel] of Object.entries(paths ?? {})) {
    if (name === 'prompt' || rel === main) continue;
    sidecars.push({ name, path: rel, text: (await readText(path.join(p.root, rel))) ?? '' });
  }

  const asm: Record<string, unknown>[] = [];
  const rejections: Record<string, unknown>[] = [];
  let expected: string | undefined;
  let actual: string | undefined;
  let expectedPath: string | undefined;
  for (const t of snap.targets) {
    const def = p.targets.get(t)!;
    for (const [col, cell] of Object.entries(row?.cells ?? {})) {
      if (col !== t && !col.startsWith(`${t}[`)) continue;
      const vars = Object.fromEntries(col.slice(t.length).replace(/^\[|\]$/g, '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
      const stem = path.posix.join(def.outDir, fileStemOf(key, vars));
      if (cell.s === 'rejected' || cell.s === 'failed') {
        const text = await readText(path.join(p.root, `${stem}.rejected.txt`));
        rejections.push({ target: col, reason: cell.r, message: text ? text.split('\n').slice(1).join('\n').trim() : cell.m ?? '' });
      }
      if (cell.s === 'propagated') rejections.push({ target: col, reason: cell.r, message: 'an input was rejected', propagated: true });
      if (hasAsm(def) && existsSync(path.join(p.root, `${stem}.s`))) {
        const text = (await readText(path.join(p.root, `${stem}.s`), 4 * MAX_TEXT)) ?? '';
        const producer = producerOf(p, def, cell.v);
        const toolchain = String(producer?.params.toolchain ?? def.params.toolchain ?? 'x86_64');
        asm.push({ target: col, path: `${stem}.s`, variant: cell.v, status: cell.s, lines: highlightLines(text, asmLanguage(toolchain)), mappable: !!producer });
      }
      const exp = await readText(path.join(p.root, `${stem}.expected.txt`));
      const act = await readText(path.join(p.root, `${stem}.actual.txt`));
      if (exp !== undefined && (act !== undefined || expected === undefined)) {
        expected = exp;
        expectedPath = `${stem}.expected.txt`;
        actual = act;
      }
    }
  }
  // The assembly the dataset took first (the verdict target's), then the others in pipeline order.
  asm.sort((a, b) => Number(b.target === snap.verdictTarget) - Number(a.target === snap.verdictTarget));
  const evalSamples = evalFor(snap.eval, key);
  return {
    key,
    row,
    verdictTarget: snap.verdictTarget,
    source: main ? { path: main, lines: cpp === undefined ? [] : highlightLines(cpp, 'cpp') } : undefined,
    prompt: promptPath ? { path: promptPath, text: prompt ?? '', exists: prompt !== undefined } : undefined,
    sidecars,
    asm,
    rejections,
    output: expected !== undefined ? { expectedPath, expected, actual, diff: actual !== undefined ? renderDiff(expected, actual) : undefined } : undefined,
    eval: evalSamples,
  };
}

/** A line diff of expected vs actual output as HTML rows (− expected, + actual). */
export function renderDiff(expected: string, actual: string): string {
  const rows: string[] = [];
  let a = 1;
  let b = 1;
  for (const part of diffLines(expected, actual)) {
    const lines = part.value.replace(/\n$/, '').split('\n');
    for (const l of lines) {
      if (rows.length >= MAX_DIFF_LINES) break;
      const cls = part.added ? 'ins' : part.removed ? 'del' : 'same';
      const sign = part.added ? '+' : part.removed ? '−' : ' ';
      const na = part.added ? '' : String(a++);
      const nb = part.removed ? '' : String(b++);
      rows.push(`<tr class="${cls}"><td class="n">${na}</td><td class="n">${nb}</td><td class="sign">${sign}</td><td class="code">${escapeHtml(l) || '&nbsp;'}</td></tr>`);
    }
  }
  return `<table class="diff"><thead><tr><th>exp.</th><th>act.</th><th></th><th>− expected (the C++ program) / + actual (the assembly)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function evalFor(report: Record<string, unknown> | undefined, key: string): Record<string, unknown> | undefined {
  if (!report) return undefined;
  const prompts = (report.prompts as { id: string; prompt: string }[] | undefined) ?? [];
  const prompt = prompts.find((x) => x.id === key || x.id.startsWith(`${key}[`));
  if (!prompt) return undefined;
  const samples = ((report.samples as Record<string, unknown>[] | undefined) ?? []).filter((s) => s.prompt === prompt.id);
  return {
    models: report.models,
    samples: samples.map((s) => ({ model: s.model, index: s.index, verdict: s.verdict, detail: s.detail })),
  };
}

// ------------------------------------------------------------------ source-line mapping

const mapCache = new Map<string, (number | null)[]>();

function norm(line: string): string {
  return line.replace(/\t#.*$/, '').replace(/\s+/g, ' ').trim();
}

const isInstruction = (line: string) => /^\s+[a-z]/i.test(line) && !/^\s+\./.test(line);

/** For each line of `chosen`, the C++ line it came from (per `-fverbose-asm` output), or null. */
export function alignVerbose(chosen: string, verbose: string, sourceName = 'prog.cpp'): (number | null)[] {
  const marker = new RegExp(`^# ${sourceName.replace(/\./g, '\\.')}:(\\d+):`);
  const entries: { n: string; line: number | null }[] = [];
  let cur: number | null = null;
  for (const l of verbose.split('\n')) {
    const m = marker.exec(l);
    if (m) {
      cur = Number(m[1]);
      continue;
    }
    if (l.startsWith('#')) continue;
    if (!isInstruction(l)) {
      // A function's label starts a new stretch: nothing maps across it.
      if (/^[A-Za-z_.$][\w.$]*:/.test(l) && !l.startsWith('.L')) cur = null;
      continue;
    }
    entries.push({ n: norm(l), line: cur });
  }
  const out: (number | null)[] = [];
  let j = 0;
  for (const l of chosen.split('\n')) {
    if (!isInstruction(l)) {
      out.push(null);
      continue;
    }
    const n = norm(l);
    let found = -1;
    for (let k = j; k < Math.min(entries.length, j + 400); k++) {
      if (entries[k].n === n) {
        found = k;
        break;
      }
    }
    if (found < 0) out.push(null);
    else {
      out.push(entries[found].line);
      j = found + 1;
    }
  }
  return out;
}

/**
 * What the line map asks of the kinds, beyond the task contract: how a node of a compile target
 * with these params turns a program into assembly, again with -fverbose-asm. The command line
 * hands it over with the kinds (tasks/registry.ts); the engine side never imports a kind.
 */
export interface AsmAnnotator {
  prepare(req: { projectRoot: string; params: JsonObject }): Promise<{
    /** Everything the result depends on besides the source (compiler, flags), for the memo. */
    id: string;
    /** The command line, as the page shows it. */
    commandLine: string;
    compile(source: string, dir: string): Promise<{ ok: true; asm: string } | { ok: false; stderr: string }>;
  }>;
}

/** The source line of every line of a target's `.s` for this program (compiles with -fverbose-asm once per source and flags). */
export async function sourceLineMap(
  state: ProjectState, key: string, col: string, sources: Map<string, Record<string, string>>, annotator: AsmAnnotator | undefined,
): Promise<{ lines: (number | null)[]; how: string } | { error: string }> {
  const p = state.pipeline;
  const t = col.replace(/\[.*$/, '');
  const def = p.targets.get(t);
  const row = state.row(key);
  const cell = row?.cells[col];
  if (!def || !cell) return { error: `no ${col} result for ${key}` };
  const producer = producerOf(p, def, cell.v);
  if (!producer) return { error: `${col}'s assembly is not a g++ -S output` };
  const srcDef = sourceTargetOf(p, state.snapshot().verdictTarget);
  const main = srcDef ? sources.get(key)?.[String(srcDef.params.as ?? 'src')] : undefined;
  if (!main) return { error: `no source file for ${key}` };
  const vars = Object.fromEntries(col.slice(t.length).replace(/^\[|\]$/g, '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
  const chosen = await readText(path.join(p.root, def.outDir, `${fileStemOf(key, vars)}.s`), 4 * MAX_TEXT);
  if (chosen === undefined) return { error: `${col} has no assembly for ${key}` };
  const src = await fsp.readFile(path.join(p.root, main), 'utf8');
  if (!annotator) return { error: 'this view was started without a compiler to map lines with' };
  const how = await annotator.prepare({ projectRoot: p.root, params: { ...producer.params, ...vars } });
  const memo = sha256(JSON.stringify([src, how.id, chosen]));
  let lines = mapCache.get(memo);
  if (!lines) {
    const dir = path.join(projectFolders(p.root).serveTmp, memo.slice(0, 16));
    await fsp.mkdir(dir, { recursive: true });
    try {
      const r = await how.compile(src, dir);
      if (!r.ok) return { error: `g++ -fverbose-asm failed: ${r.stderr.split('\n')[0]}` };
      lines = alignVerbose(chosen, r.asm);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
    if (mapCache.size > 200) mapCache.clear();
    mapCache.set(memo, lines);
  }
  return { lines, how: how.commandLine };
}
