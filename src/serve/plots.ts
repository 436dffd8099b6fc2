/**
 * The dataset's plots as inline SVG, drawn from the dataset report (no charting library: three
 * bar charts are a few dozen lines, and the page needs no script to show them).
 */
import { DEFAULT_PRICES, estimateTrainingCost } from '../llm/cost.js';
import { escapeHtml as e } from './highlight.js';
import type { Row } from './state.js';

/** Per-example limits worth drawing, beside the dataset's own model's. */
const LIMITS: [string, number][] = [
  ['gpt-4o / gpt-4o-mini', 65_536],
  ['gpt-3.5-turbo-0125', 16_385],
];

const fmt = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : String(n));

export function tokensPlot(rows: Row[], report: Record<string, unknown> | undefined): string {
  const pts = rows.filter((r) => typeof r.tokens === 'number').map((r) => ({ key: r.key, tokens: r.tokens!, cls: r.excluded ? 'excl' : r.split ?? 'train' }));
  pts.sort((a, b) => a.tokens - b.tokens);
  const W = 760;
  const H = 260;
  const L = 56;
  const B = 24;
  const limit = typeof report?.limitPerExample === 'number' ? report.limitPerExample : 65_536;
  const lines: [string, number][] = [[`${String(report?.model ?? 'model')} limit`, limit], ...LIMITS.filter(([, v]) => v !== limit)];
  const max = Math.max(limit, ...pts.map((p) => p.tokens), 10);
  const min = 100;
  const y = (v: number) => H - B - ((Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max * 1.2) - Math.log10(min))) * (H - B - 10);
  const bw = pts.length ? (W - L - 10) / pts.length : 0;
  const parts = [`<svg class="chart" data-plot="tokens" role="img" aria-label="tokens per example" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`];
  for (const t of [100, 1000, 10_000, 100_000]) {
    if (t > max * 1.2) break;
    parts.push(`<line class="grid" x1="${L}" x2="${W - 10}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"/><text class="axis" x="${L - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  pts.forEach((p, i) => {
    const top = y(p.tokens);
    parts.push(`<rect class="bar ${p.cls}" x="${(L + i * bw).toFixed(2)}" y="${top.toFixed(1)}" width="${Math.max(bw - (bw > 3 ? 1 : 0), 0.5).toFixed(2)}" height="${(H - B - top).toFixed(1)}"><title>${e(p.key)}: ${p.tokens} tokens${p.cls === 'excl' ? ' (excluded)' : ''}</title></rect>`);
  });
  for (const [name, v] of lines) {
    if (v > max * 1.2) continue;
    parts.push(`<line class="limit" x1="${L}" x2="${W - 10}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="limit-label" x="${W - 12}" y="${(y(v) - 4).toFixed(1)}" text-anchor="end">${e(name)}: ${v}</text>`);
  }
  parts.push(`<text class="axis" x="${L}" y="${H - 6}">${pts.length} examples by size (tokens, log scale):</text>`);
  ['train', 'valid', 'excl'].forEach((c, i) => {
    const x = L + 250 + i * 90;
    parts.push(`<rect class="legend bar ${c}" x="${x}" y="${H - 15}" width="10" height="10"/><text class="axis" x="${x + 14}" y="${H - 6}">${c === 'excl' ? 'excluded' : c}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function hbars(name: string, title: string, data: [string, number, string][], unit = (n: number) => String(n)): string {
  const W = 760;
  const rowH = 22;
  const L = 200;
  const H = data.length * rowH + 10;
  const max = Math.max(1e-9, ...data.map((d) => d[1]));
  const parts = [`<svg class="chart" data-plot="${name}" role="img" aria-label="${e(title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`];
  data.forEach(([label, v, cls], i) => {
    const w = ((W - L - 90) * v) / max;
    const yy = 5 + i * rowH;
    parts.push(`<text class="axis" x="${L - 8}" y="${yy + 15}" text-anchor="end">${e(label)}</text><rect class="bar ${cls}" x="${L}" y="${yy + 3}" width="${Math.max(w, 1).toFixed(1)}" height="${rowH - 6}"/><text class="val" x="${L + w + 6}" y="${yy + 15}">${e(unit(v))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Programs per verdict (of the target the dataset reads) and per exclusion reason. */
export function verdictPlot(rows: Row[], verdictTarget: string | undefined): string {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const c = verdictTarget ? r.cells[verdictTarget] : undefined;
    const v = !c ? 'not built' : c.s === 'ok' ? 'ok' : c.s === 'running' ? 'running' : c.r ?? c.s;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  const ex = new Map<string, number>();
  for (const r of rows) if (r.excluded && !r.excluded.startsWith('verdict:')) ex.set(`excluded: ${r.excluded}`, (ex.get(`excluded: ${r.excluded}`) ?? 0) + 1);
  const data: [string, number, string][] = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, n, k === 'ok' ? 'ok' : 'bad']);
  for (const [k, n] of ex) data.push([k, n, 'excl']);
  return hbars('verdicts', 'programs per verdict', data);
}

/** The estimated fine-tuning cost of this dataset per priced model. */
export function costPlot(report: Record<string, unknown> | undefined): string {
  const tokens = (report?.tokens as { train?: number } | undefined)?.train ?? 0;
  const epochs = (report?.cost as { epochs?: number } | undefined)?.epochs ?? 3;
  const chosen = String(report?.model ?? '');
  const data: [string, number, string][] = Object.keys(DEFAULT_PRICES.models).map((m) => {
    const c = estimateTrainingCost({ trainingTokens: tokens, epochs, model: m });
    return [m, c.usd ?? 0, m === chosen ? 'chosen' : 'other'];
  });
  return hbars('cost', `estimated cost, ${epochs} epochs × ${tokens} train tokens`, data, (n) => `$${n.toFixed(2)}`);
}
