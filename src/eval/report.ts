/**
 * Renders an evaluation as Markdown, JSON and one self-contained HTML page (inline CSS and SVG, no
 * scripts, no external assets). Model output is untrusted: everything is escaped.
 */
import { createPatch } from 'diff';
import { STAGES, VERDICTS, type EvalMetrics, type MetricSample, type ModelMetrics, type Verdict } from './metrics.js';

export interface ReportModel {
  id: string;
  label: string;
}

export interface ReportPrompt {
  id: string;
  prompt: string;
  cpp: string;
  /** The first test case's expected output. */
  expectedOutput: string;
  /** Every test case (name, stdin, expected output); absent in reports from before test cases. */
  cases?: { name: string; stdin: string; expected: string }[];
}

/** How one sample did on one test case. */
export interface ReportCase {
  name: string;
  verdict: Verdict;
  detail: string;
  stdout?: string;
}

export interface ReportSample extends MetricSample {
  /** 0-based sample number for (model, prompt). */
  index: number;
  /** The model's full answer. */
  answer: string;
  /** The extracted assembly, when there was any. */
  asm?: string;
  /** Human-readable explanation of the verdict (tool error reason, first differing line, ...). */
  detail: string;
  /** What the program printed, when it ran (on the first case that failed, else the first case). */
  stdout?: string;
  /** The test case `stdout` belongs to. */
  case?: string;
  /** Every test case's result (a sample passes only if all are ok). */
  cases?: ReportCase[];
}

export interface ReportData {
  title: string;
  /** ISO timestamp. */
  generatedAt: string;
  models: ReportModel[];
  prompts: ReportPrompt[];
  samples: ReportSample[];
  metrics: EvalMetrics;
}

export interface RenderedReport {
  markdown: string;
  json: string;
  html: string;
}

// ---------------------------------------------------------------------------------------------
// helpers

export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Recursively sorts object keys so the JSON text is stable; drops undefined values like JSON does. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function stableJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

/** A unified diff of the expected output against what the program printed ("" when equal). */
export function outputDiff(expected: string, got: string, caseName = 'stdout'): string {
  if (expected === got) return '';
  const patch = createPatch(caseName, expected, got, 'expected', 'actual', { context: 2 });
  // Drop the "Index:" and "====" header lines: the file names say enough.
  return patch.split('\n').slice(2).join('\n').trimEnd();
}

function interval(iv: [number, number] | null | undefined): string {
  return iv ? ` [${(iv[0] * 100).toFixed(1)}–${(iv[1] * 100).toFixed(1)}%]` : '';
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}

function money(x: number | null | undefined): string {
  if (x === null || x === undefined) return 'n/a';
  return x < 1 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`;
}

function int(n: number): string {
  return n.toLocaleString('en-US');
}

function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

interface ChartMetric {
  key: string;
  title: string;
  get: (m: ModelMetrics) => number | null;
}

function chartMetrics(k: number): ChartMetric[] {
  const stageTitles: Record<(typeof STAGES)[number], string> = {
    extracted: 'Assembly extracted',
    assembles: 'Assembles',
    links: 'Links',
    runs: 'Runs (no crash / timeout)',
    matches: 'Output matches',
  };
  return [
    ...STAGES.map((s) => ({ key: s, title: stageTitles[s], get: (m: ModelMetrics) => (m.samples === 0 ? null : m.rates[s]) })),
    { key: 'pass@1', title: 'pass@1', get: (m: ModelMetrics) => m.passAt1 },
    { key: `pass@${k}`, title: `pass@${k}`, get: (m: ModelMetrics) => m.passAtK },
  ];
}

const PALETTE = ['#3b6fb6', '#e07b24', '#3f9b4f', '#c8423f', '#6a8fa0', '#b08a1e', '#8a5aa3', '#d46a8c'];

const VERDICT_LABEL: Record<Verdict, string> = {
  'no-asm': 'no asm',
  'assemble-error': 'assemble error',
  'link-error': 'link error',
  crash: 'crash',
  timeout: 'timeout',
  'output-mismatch': 'output mismatch',
  ok: 'ok',
};

interface ModelRow {
  id: string;
  label: string;
  color: string;
  metrics: ModelMetrics | undefined;
}

function modelRows(data: ReportData): ModelRow[] {
  const rows: ModelRow[] = data.models.map((m) => ({ id: m.id, label: m.label, color: '', metrics: undefined }));
  for (const mm of data.metrics.models) {
    const row = rows.find((r) => r.id === mm.model);
    if (row) row.metrics = mm;
    else rows.push({ id: mm.model, label: mm.model, color: '', metrics: mm });
  }
  rows.forEach((r, i) => (r.color = PALETTE[i % PALETTE.length]!));
  return rows;
}

function samplesFor(data: ReportData, model: string, prompt: string): ReportSample[] {
  return data.samples.filter((s) => s.model === model && s.prompt === prompt).sort((a, b) => a.index - b.index);
}

function tally(samples: ReportSample[]): string {
  if (samples.length === 0) return 'no samples';
  const ok = samples.filter((s) => s.verdict === 'ok').length;
  const rest = VERDICTS.filter((v) => v !== 'ok')
    .map((v) => [v, samples.filter((s) => s.verdict === v).length] as const)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${v} ×${n}`);
  return `${ok}/${samples.length} ok${rest.length ? ` (${rest.join(', ')})` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// markdown

function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\s*\n\s*/g, ' ');
}

function renderMarkdown(data: ReportData, rows: ModelRow[]): string {
  const k = data.metrics.k;
  const out: string[] = [];
  out.push(`# ${mdCell(data.title)}`, '', `Generated ${mdCell(data.generatedAt)} · ${data.prompts.length} prompts · ${data.samples.length} samples`, '');
  out.push('## Metrics', '');
  out.push(`| Model | Samples | Extracted | Assembles | Links | Runs | Matches | pass@1 | pass@${k} | Tokens in | Tokens out | Cost |`);
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const m = r.metrics;
    if (!m) {
      out.push(`| ${mdCell(r.label)} | 0 | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0 | 0 | n/a |`);
      continue;
    }
    const stage = (s: (typeof STAGES)[number]) => `${pct(m.samples ? m.rates[s] : null)} (${m.counts[s]})`;
    out.push(
      `| ${mdCell(r.label)} | ${m.samples} | ${STAGES.map(stage).join(' | ')} | ${pct(m.passAt1)}${interval(m.passAt1Interval)} | ${pct(m.passAtK)}${interval(m.passAtKInterval)} | ${int(m.tokens.input)} | ${int(m.tokens.output)} | ${money(m.cost?.total)} |`,
    );
  }
  out.push('', '## Per-prompt verdicts', '');
  out.push(`| Prompt | ${rows.map((r) => mdCell(r.label)).join(' | ')} |`);
  out.push(`|---|${rows.map(() => '---').join('|')}|`);
  for (const p of data.prompts) {
    const cells = rows.map((r) => mdCell(tally(samplesFor(data, r.id, p.id))));
    out.push(`| \`${mdCell(p.id).replace(/`/g, "'")}\` ${mdCell(clip(p.prompt, 90))} | ${cells.join(' | ')} |`);
  }
  out.push('', '## Expected vs actual output', '', 'The first failing sample of each model and prompt that ran but printed something else, as a unified diff (- expected, + actual).', '');
  let diffs = 0;
  for (const p of data.prompts) {
    for (const r of rows) {
      const s = samplesFor(data, r.id, p.id).find((x) => x.verdict === 'output-mismatch' && x.stdout !== undefined);
      if (!s) continue;
      const exp = expectedFor(p, s.case);
      const d = outputDiff(exp, s.stdout!, s.case ?? 'stdout');
      if (!d) continue;
      diffs++;
      out.push(`### \`${mdCell(p.id).replace(/`/g, "'")}\` · ${mdCell(r.label)} · sample #${s.index + 1}${s.case ? ` · case ${mdCell(s.case)}` : ''}`, '', '```diff', d.replace(/```/g, "'''").replace(/</g, '&lt;').replace(/>/g, '&gt;'), '```', '');
    }
  }
  if (!diffs) out.push('(none)', '');
  return out.join('\n');
}

/** The expected output of a prompt's named case (the first case by default). */
function expectedFor(p: ReportPrompt, caseName: string | undefined): string {
  return p.cases?.find((c) => c.name === caseName)?.expected ?? p.expectedOutput;
}

// ---------------------------------------------------------------------------------------------
// html

function barChart(metric: ChartMetric, rows: ModelRow[]): string {
  const labelW = 150;
  const barW = 250;
  const valueW = 56;
  const rowH = 26;
  const top = 6;
  const width = labelW + barW + valueW;
  const height = top * 2 + rows.length * rowH + 14;
  const e = escapeHtml;
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" data-metric="${e(metric.key)}" role="img" aria-label="${e(metric.title)} by model" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">`,
  );
  for (const t of [0, 0.5, 1]) {
    const x = labelW + t * barW;
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${top - 2}" y2="${top + rows.length * rowH}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${top + rows.length * rowH + 11}" text-anchor="middle">${t * 100}%</text>`);
  }
  rows.forEach((r, i) => {
    const v = r.metrics ? metric.get(r.metrics) : null;
    const y = top + i * rowH;
    const w = v === null ? 0 : Math.max(0, Math.min(1, v)) * barW;
    const name = clip(r.label, 22);
    parts.push(`<text class="mlabel" x="${labelW - 8}" y="${y + rowH / 2 + 4}" text-anchor="end"><title>${e(r.label)}</title>${e(name)}</text>`);
    parts.push(
      `<rect class="bar" data-model="${e(r.id)}" x="${labelW}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="2" fill="${r.color}"><title>${e(r.label)}: ${pct(v)}</title></rect>`,
    );
    parts.push(`<text class="value" x="${labelW + w + 5}" y="${y + rowH / 2 + 4}">${pct(v)}</text>`);
  });
  parts.push('</svg>');
  return `<figure class="card"><figcaption>${e(metric.title)}</figcaption>${parts.join('')}</figure>`;
}

function badge(v: Verdict): string {
  return `<span class="badge v-${v}">${escapeHtml(VERDICT_LABEL[v])}</span>`;
}

function sampleBody(s: ReportSample, p: ReportPrompt): string {
  const e = escapeHtml;
  const out: string[] = [];
  if (s.detail) out.push(`<p class="detail">${e(s.detail)}</p>`);
  if (s.asm !== undefined && s.asm !== '') {
    out.push(`<pre class="code asm">${e(s.asm)}</pre>`);
  } else {
    out.push(`<p class="muted">No assembly extracted. Raw answer:</p><pre class="code answer">${e(s.answer)}</pre>`);
  }
  if (s.cases && s.cases.length > 1) {
    out.push(`<p class="cases">${s.cases.map((c) => `${e(c.name)} ${badge(c.verdict)}`).join(' · ')}</p>`);
  }
  if (s.stdout !== undefined && s.verdict !== 'ok') {
    const exp = expectedFor(p, s.case);
    const d = outputDiff(exp, s.stdout, s.case ?? 'stdout');
    const lines = d.split('\n').map((l) => `<span class="${l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : 'ctx'}">${e(l)}</span>`).join('\n');
    out.push(
      `<details class="io" open><summary>expected vs actual${s.case ? ` (case ${e(s.case)})` : ''}</summary>${d ? `<pre class="code diff">${lines}</pre>` : ''}<div class="io2"><div><h5>got</h5><pre class="code">${e(s.stdout)}</pre></div><div><h5>expected</h5><pre class="code">${e(exp)}</pre></div></div></details>`,
    );
  }
  if (s.asm !== undefined && s.asm !== '') {
    out.push(`<details class="raw"><summary>full answer</summary><pre class="code answer">${e(s.answer)}</pre></details>`);
  }
  return out.join('');
}

function modelCell(data: ReportData, r: ModelRow, p: ReportPrompt): string {
  const list = samplesFor(data, r.id, p.id);
  if (list.length === 0) return '<td class="mcell"><p class="muted">no samples</p></td>';
  const [first, ...others] = list as [ReportSample, ...ReportSample[]];
  const parts: string[] = [];
  parts.push(`<div class="mhead">${badge(first.verdict)} <span class="tally">${escapeHtml(tally(list))}</span></div>`);
  parts.push(`<div class="sample" data-sample="${first.index}">${sampleBody(first, p)}</div>`);
  for (const s of others) {
    parts.push(
      `<details class="sample more" data-sample="${s.index}"><summary>sample #${s.index + 1} ${badge(s.verdict)}</summary>${sampleBody(s, p)}</details>`,
    );
  }
  return `<td class="mcell">${parts.join('')}</td>`;
}

function metricsTable(data: ReportData, rows: ModelRow[]): string {
  const e = escapeHtml;
  const k = data.metrics.k;
  const head = ['Model', 'Samples', 'Extracted', 'Assembles', 'Links', 'Runs', 'Matches', 'pass@1', `pass@${k}`, 'Tokens in', 'Tokens out', 'Cost'];
  const body = rows.map((r) => {
    const m = r.metrics;
    const swatch = `<span class="swatch" style="background:${r.color}"></span>`;
    if (!m) return `<tr><th scope="row">${swatch}${e(r.label)}</th><td>0</td>${'<td>n/a</td>'.repeat(7)}<td>0</td><td>0</td><td>n/a</td></tr>`;
    const stage = (s: (typeof STAGES)[number]) => `<td>${pct(m.samples ? m.rates[s] : null)} <span class="muted">${m.counts[s]}</span></td>`;
    return `<tr><th scope="row">${swatch}${e(r.label)}<div class="mid">${e(r.id)}</div></th><td>${m.samples}</td>${STAGES.map(stage).join('')}<td>${pct(m.passAt1)}<span class="muted">${interval(m.passAt1Interval)}</span></td><td>${pct(m.passAtK)}${m.passAtK !== null ? ` <span class="muted">${m.passAtKPrompts}p${interval(m.passAtKInterval)}</span>` : ''}</td><td>${int(m.tokens.input)}</td><td>${int(m.tokens.output)}</td><td>${money(m.cost?.total)}</td></tr>`;
  });
  return `<table class="metrics"><thead><tr>${head.map((h) => `<th scope="col">${e(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

const CSS = `
:root{--fg:#1d2330;--muted:#6b7280;--line:#dde1e8;--bg:#f6f7f9;--card:#fff;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace}
*{box-sizing:border-box}
body{margin:0;padding:24px 28px 48px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:0 0 6px}h4{font-size:12px;margin:10px 0 4px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}h5{margin:4px 0;font-size:11px;color:var(--muted)}
.muted{color:var(--muted)}.sub{color:var(--muted);margin:0 0 8px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.card{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card figcaption{font-weight:600;margin-bottom:4px}
.chart{display:block;width:100%;max-width:620px;height:auto;font-size:12px}
.chart .grid{stroke:#e6e8ec;stroke-width:1}.chart .tick{fill:#9aa1ad;font-size:10px}
.chart .mlabel{fill:var(--fg)}.chart .value{fill:var(--fg);font-weight:600;font-size:11.5px}
table{border-collapse:collapse;background:var(--card)}
table.metrics{width:100%;border:1px solid var(--line);border-radius:8px}
.metrics th,.metrics td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
.metrics th[scope=row],.metrics thead th:first-child{text-align:left}.metrics thead th{font-size:12px;color:var(--muted);font-weight:600}
.mid{font:11px var(--mono);color:var(--muted);font-weight:400}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.prompt{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px;margin:0 0 18px}
.ask{margin:0 0 10px;font-size:14.5px}
table.cmp{width:100%;table-layout:fixed;border:1px solid var(--line)}
.cmp th,.cmp td{border:1px solid var(--line);padding:8px;vertical-align:top;text-align:left}
.cmp thead th{background:#f0f2f5;font-size:13px}
.code{font:11.5px/1.4 var(--mono);background:#f7f8fa;border:1px solid #e7e9ee;border-radius:6px;padding:8px;margin:6px 0;overflow:auto;max-height:460px;white-space:pre;tab-size:4}
.code.cpp,.code.out{white-space:pre-wrap;overflow-wrap:anywhere}
.detail{margin:6px 0;font-size:12.5px;overflow-wrap:anywhere}
.mhead{display:flex;gap:8px;align-items:center;flex-wrap:wrap}.tally{font-size:12px;color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:11.5px;font-weight:600;white-space:nowrap;border:1px solid transparent}
.v-ok{background:#e3f4e6;color:#1e6b2e;border-color:#b8e0c0}
.v-output-mismatch{background:#fff3d6;color:#7a5600;border-color:#f0d98f}
.v-crash,.v-timeout{background:#fde4e1;color:#9b2418;border-color:#f5b8b0}
.v-assemble-error,.v-link-error{background:#fde9d9;color:#8a3d00;border-color:#f4c49c}
.v-no-asm{background:#eceef2;color:#4b5262;border-color:#d6d9e0}
details{margin:6px 0}summary{cursor:pointer;font-size:12.5px;color:#374151}
details.more{border-top:1px dashed var(--line);padding-top:6px}
.io2{display:grid;grid-template-columns:1fr 1fr;gap:6px}
footer{margin-top:24px;color:var(--muted);font-size:12px}
pre.diff .add{color:#166534;background:#dcfce7}pre.diff .del{color:#991b1b;background:#fee2e2}pre.diff .ctx{color:#374151}
`;

function renderHtml(data: ReportData, rows: ModelRow[]): string {
  const e = escapeHtml;
  const k = data.metrics.k;
  const charts = chartMetrics(k).map((m) => barChart(m, rows)).join('\n');
  const prompts = data.prompts
    .map((p) => {
      const head = `<tr><th scope="col">Reference C++</th>${rows.map((r) => `<th scope="col"><span class="swatch" style="background:${r.color}"></span>${e(r.label)}</th>`).join('')}</tr>`;
      const ref = `<td class="ref"><pre class="code cpp">${e(p.cpp)}</pre><h4>Expected output</h4><pre class="code out">${e(p.expectedOutput)}</pre></td>`;
      return `<section class="prompt" id="prompt-${e(p.id)}"><h3>${e(p.id)}</h3><p class="ask">${e(p.prompt)}</p><table class="cmp"><thead>${head}</thead><tbody><tr>${ref}${rows.map((r) => modelCell(data, r, p)).join('')}</tr></tbody></table></section>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(data.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${e(data.title)}</h1><p class="sub">Generated ${e(data.generatedAt)} · ${data.prompts.length} prompts · ${rows.length} models · ${data.samples.length} samples · pass@${k}</p></header>
<h2>Metrics</h2>
${metricsTable(data, rows)}
<h2>Charts</h2>
<div class="charts">
${charts}
</div>
<h2>Prompts</h2>
${prompts}
<footer>Stages are cumulative: extracted → assembles → links → runs (no crash or timeout) → output matches. pass@k is the unbiased estimator of Chen et al. (2021) from n samples per prompt, averaged over prompts with at least k samples; brackets give a 95 % confidence interval over prompts. A sample passes only if it matches on every test case.</footer>
</body>
</html>
`;
}

/** Markdown (metrics table + per-prompt verdict table), stable JSON, and one self-contained HTML page. */
export function renderReport(data: ReportData): RenderedReport {
  const rows = modelRows(data);
  return {
    markdown: renderMarkdown(data, rows),
    json: stableJson(data),
    html: renderHtml(data, rows),
  };
}
