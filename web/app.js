// asmgraph's curation view. Everything shown comes from the server: a snapshot, then deltas over
// server-sent events. The page keeps no decisions of its own: excluding or editing a prompt writes a
// project file, the watcher rebuilds, and the result arrives like any other change.

const $ = (sel, el = document) => el.querySelector(sel);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const view = $('#view');

/** The server's state as last received (a mirror, replaced by every snapshot). */
const S = { targets: [], verdictTarget: undefined, rows: new Map(), dataset: undefined, eval: undefined, cycle: undefined };
/** Verdict history per program since this page was opened: [{t, verdict, text}]. */
const history = new Map();
const opened = Date.now();
const perf = (window.__asmgraphPerf = { firstPaint: undefined, snapshotRows: 0, applies: [] });

// ------------------------------------------------------------------ helpers

function verdictOf(row, target = S.verdictTarget) {
  let c = target && row.cells[target];
  if (!c && target) {
    // A matrix target: the first variant that is not ok speaks for the program.
    const vs = Object.entries(row.cells).filter(([k]) => k.startsWith(`${target}[`)).map(([, v]) => v);
    c = vs.find((v) => v.s !== 'ok') ?? vs[0];
  }
  if (!c) return 'pending';
  if (c.s === 'ok') return 'ok';
  if (c.s === 'running') return 'running';
  return c.r || c.s;
}
const failing = (v) => v !== 'ok' && v !== 'pending' && v !== 'running';

function summary(row) {
  return S.targets.map((t) => {
    const c = row.cells[t];
    if (!c) return `${t} ·`;
    return c.s === 'ok' ? `${t} ✓` : c.s === 'running' ? `${t} …` : c.s === 'propagated' ? `${t} –` : `${t} ✗ ${c.r || c.s}`;
  }).join('  ') + (row.excluded ? `  (excluded: ${row.excluded})` : '');
}

/**
 * One entry per change of the program's verdict (the verdict target's, what the dataset reads), with
 * every target's state at that moment. A verdict still being computed (running, pending) is not one:
 * a rebuild in progress leaves no intermediate entries, and the dataset re-reading a report does not
 * add one either.
 */
function remember(row) {
  const verdict = verdictOf(row);
  if (verdict === 'running' || verdict === 'pending') return;
  const list = history.get(row.key) || [];
  const last = list[list.length - 1];
  if (last && last.verdict === verdict) {
    // The same verdict: keep the latest picture of the other targets (no new entry).
    if (!S.targets.some((t) => row.cells[t]?.s === 'running')) last.text = summary(row);
    return;
  }
  list.push({ t: Date.now(), verdict, text: summary(row) });
  if (list.length > 100) list.shift();
  history.set(row.key, list);
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return new Date(ms).toLocaleTimeString();
}

function cellHtml(t, c) {
  if (!c) return `<div class="c st-none" data-target="${esc(t)}" data-status="none">·</div>`;
  const txt = c.s === 'ok' ? `✓${c.tok !== undefined ? ` ${c.tok}` : ''}` : c.s === 'running' ? '…' : c.s === 'propagated' ? '–' : c.s === 'failed' ? 'FAILED' : `✗ ${esc(c.r)}`;
  return `<div class="c st-${c.s}" data-target="${esc(t)}" data-status="${c.s}"${c.r ? ` data-reason="${esc(c.r)}"` : ''}>${txt}</div>`;
}

function messageOf(row) {
  for (const t of S.targets) {
    const c = row.cells[t];
    if (c && (c.s === 'rejected' || c.s === 'failed')) return `${c.r || c.s}: ${c.m || ''}`;
  }
  if (row.excluded) return `excluded ${row.excluded}${row.note ? `: ${row.note}` : ''}`;
  return '';
}

// ------------------------------------------------------------------ routing

function route() {
  const h = location.hash || '#/';
  const [p, q] = h.slice(1).split('?');
  return { path: p || '/', q: new URLSearchParams(q || '') };
}

function go(path, q) {
  const s = q && [...q].length ? `?${q}` : '';
  if (location.hash !== `#${path}${s}`) location.hash = `${path}${s}`;
}

window.addEventListener('hashchange', () => render());

function render() {
  const r = route();
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('on', a.dataset.nav === (r.path.startsWith('/p/') ? 'table' : r.path === '/' ? 'table' : r.path.slice(1)));
  if (r.path.startsWith('/p/')) return renderProgram(decodeURIComponent(r.path.slice(3)));
  if (r.path === '/plots') return renderPlots();
  if (r.path === '/eval') return renderEval();
  return renderTable(r.q);
}

// ------------------------------------------------------------------ the table

let tableState = undefined; // { q, tbody, trs: Map }
let searchTimer = undefined;

function filters(q) {
  return { v: q.get('v') || '', t: q.get('t') || S.verdictTarget || '', split: q.get('split') || '', s: (q.get('s') || '').toLowerCase(), sort: q.get('sort') || 'name' };
}

function passes(row, f) {
  if (f.s && !row.key.toLowerCase().includes(f.s)) return false;
  const v = verdictOf(row, f.t);
  if (f.v === 'failing' && !failing(v)) return false;
  if (f.v && f.v !== 'failing' && v !== f.v) return false;
  if (f.split === 'excluded' && !row.excluded) return false;
  if ((f.split === 'train' || f.split === 'valid') && row.split !== f.split) return false;
  return true;
}

function rowHtml(row) {
  const v = verdictOf(row);
  // Excluded for its verdict: the verdict columns already say why.
  const split = row.excluded ? (row.excluded.startsWith('verdict:') ? '–' : `<span class="excl">excluded: ${esc(row.excluded)}</span>`) : esc(row.split || '');
  const msg = esc(messageOf(row));
  return `<div class="prog row" role="row" data-key="${esc(row.key)}" data-verdict="${esc(v)}"><div class="c name"><a href="#/p/${encodeURIComponent(row.key)}">${esc(row.key)}</a></div>${S.targets.map((t) => cellHtml(t, row.cells[t])).join('')}<div class="c num">${row.tokens ?? ''}</div><div class="c">${split}</div><div class="c">${esc(row.variant || '')}</div><div class="c msg" title="${msg}">${msg}</div><div class="c ago" data-t="${row.changed}">${ago(row.changed)}</div></div>`;
}

/** Rows are grouped in blocks the browser skips laying out and painting while off screen. */
const BLOCK = 100;
function blocksHtml(rows) {
  const out = [];
  for (let i = 0; i < rows.length; i += BLOCK) out.push(`<div class="block" style="contain-intrinsic-size: auto ${Math.min(BLOCK, rows.length - i) * 26}px">${rows.slice(i, i + BLOCK).map(rowHtml).join('')}</div>`);
  return out.join('');
}

function sortedRows(f) {
  const rows = [...S.rows.values()].filter((r) => passes(r, f));
  if (f.sort === 'tokens') rows.sort((a, b) => (b.tokens ?? -1) - (a.tokens ?? -1));
  else if (f.sort === 'changed') rows.sort((a, b) => b.changed - a.changed);
  else if (f.sort === 'verdict') rows.sort((a, b) => Number(failing(verdictOf(b))) - Number(failing(verdictOf(a))) || (a.key < b.key ? -1 : 1));
  else rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return rows;
}

/** Fixed column widths: a changed row never re-lays out the other 1,999. */
const WIDTHS = { name: '220px', tokens: '64px', split: '150px', variant: '70px', 'reason / message': 'minmax(0, 1fr)', 'last change': '100px' };
const COLS = (head) => head.map((h) => WIDTHS[h] ?? '132px').join(' ');

function renderTable(q) {
  delete view.dataset.key;
  const f = filters(q);
  // A live re-render while the curator types keeps the search box as typed (the pending search applies it).
  const box = $('#f-search');
  const typed = box && document.activeElement === box && box.value !== (q.get('s') || '') ? box.value : undefined;
  const all = [...S.rows.values()];
  const counts = new Map();
  for (const r of all) counts.set(verdictOf(r, f.t), (counts.get(verdictOf(r, f.t)) || 0) + 1);
  const nFail = all.filter((r) => failing(verdictOf(r, f.t))).length;
  const chip = (v, label, n, cls = '') => `<button class="chip ${cls} ${f.v === v ? 'on' : ''}" data-v="${esc(v)}">${esc(label)} <span class="count">${n}</span></button>`;
  const chips = [chip('', 'all', all.length), chip('failing', 'failing', nFail, 'bad'),
    ...[...counts].filter(([v]) => v !== 'ok').sort((a, b) => b[1] - a[1]).map(([v, n]) => chip(v, v, n, failing(v) ? 'bad' : '')), chip('ok', 'ok', counts.get('ok') || 0)];
  const rows = sortedRows(f);
  const head = ['name', ...S.targets, 'tokens', 'split', 'variant', 'reason / message', 'last change'];
  const sortKey = { name: 'name', tokens: 'tokens', 'last change': 'changed', [S.verdictTarget]: 'verdict' };
  view.innerHTML = `
    <div class="toolbar" id="filters">${chips.join('')}
      <select id="f-target" title="verdicts of target">${[...new Set([S.verdictTarget, ...S.targets].filter(Boolean))].map((t) => `<option ${t === f.t ? 'selected' : ''}>${esc(t)}</option>`).join('')}</select>
      <select id="f-split"><option value="">any split</option>${['train', 'valid', 'excluded'].map((s) => `<option ${s === f.split ? 'selected' : ''}>${s}</option>`).join('')}</select>
      <input type="search" id="f-search" placeholder="search by name" value="${esc(f.s)}">
      <span class="count" id="shown">${rows.length} of ${all.length} programs</span>
    </div>
    ${all.length ? '' : '<p class="empty">No programs yet: the first build is running.</p>'}
    <div class="programs" role="table" style="--cols: ${COLS(head)}">
    <div class="head row" role="row">${head.map((h) => `<div class="c" role="columnheader" data-sort="${esc(sortKey[h] || '')}">${esc(h)}${sortKey[h] === f.sort ? ' ▾' : ''}</div>`).join('')}</div>
    <div id="rows">${blocksHtml(rows)}</div></div>`;
  const tbody = $('#rows');
  const trs = new Map();
  for (const tr of tbody.querySelectorAll('.prog')) trs.set(tr.dataset.key, tr);
  tableState = { q: q.toString(), f, tbody, trs, chips: [...counts.keys()].sort().join('|') };
  if (typed !== undefined) {
    const i = $('#f-search');
    i.value = typed;
    i.focus();
    i.setSelectionRange(typed.length, typed.length);
  }
  // From the address bar and the search box as they are now, not as they were at this render: a
  // click while a search is still pending keeps both.
  const current = () => {
    const n = new URLSearchParams(route().q);
    const typed = $('#f-search')?.value;
    if (typed) n.set('s', typed);
    else n.delete('s');
    return n;
  };
  const setQ = (k, v) => {
    clearTimeout(searchTimer);
    const n = current();
    if (v) n.set(k, v);
    else n.delete(k);
    go('/', n);
  };
  $('#filters').addEventListener('click', (ev) => {
    const b = ev.target.closest('button.chip');
    if (b) setQ('v', b.dataset.v);
  });
  $('#f-target').addEventListener('change', (ev) => setQ('t', ev.target.value === S.verdictTarget ? '' : ev.target.value));
  $('#f-split').addEventListener('change', (ev) => setQ('split', ev.target.value));
  $('#f-search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      if (route().path !== '/') return;
      const n = current();
      window.history.replaceState(null, '', `#/${[...n].length ? `?${n}` : ''}`);
      renderTable(n);
      $('#f-search').focus();
      const i = $('#f-search');
      i.setSelectionRange(i.value.length, i.value.length);
    }, 120);
  });
  $('.head', view).addEventListener('click', (ev) => {
    const th = ev.target.closest('[data-sort]');
    if (th?.dataset.sort) setQ('sort', th.dataset.sort === 'name' ? '' : th.dataset.sort);
  });
  tbody.addEventListener('click', (ev) => {
    if (ev.target.closest('a')) return;
    const tr = ev.target.closest('.prog');
    if (tr) go(`/p/${encodeURIComponent(tr.dataset.key)}`);
  });
}

/** Applies changed rows to the table in place when the order cannot change; else re-renders. */
function patchTable(changed, removed) {
  const ts = tableState;
  if (!ts || !view.contains(ts.tbody)) return;
  const f = ts.f;
  if (f.sort !== 'name' || removed.length) return renderTable(new URLSearchParams(ts.q));
  for (const row of changed) {
    const tr = ts.trs.get(row.key);
    const show = passes(row, f);
    if (tr && show) {
      const t = document.createElement('div');
      t.innerHTML = rowHtml(row);
      const nt = t.firstElementChild;
      nt.classList.add('fresh');
      tr.replaceWith(nt);
      ts.trs.set(row.key, nt);
    } else if (tr !== undefined || show) {
      return renderTable(new URLSearchParams(ts.q));
    }
  }
  // Counts on the chips follow the rows; a verdict that appears or disappears redraws them.
  const now = [...new Set([...S.rows.values()].map((r) => verdictOf(r, f.t)))].sort().join('|');
  if (now !== ts.chips) return renderTable(new URLSearchParams(ts.q));
  updateChips();
}

function updateChips() {
  const f = tableState.f;
  const all = [...S.rows.values()];
  for (const b of document.querySelectorAll('#filters button.chip')) {
    const v = b.dataset.v;
    const n = v === '' ? all.length : v === 'failing' ? all.filter((r) => failing(verdictOf(r, f.t))).length : all.filter((r) => verdictOf(r, f.t) === v).length;
    b.querySelector('.count').textContent = String(n);
  }
}

setInterval(() => {
  for (const td of document.querySelectorAll('.prog .ago')) td.textContent = ago(Number(td.dataset.t));
}, 10_000);

// ------------------------------------------------------------------ a program

let programKey = undefined;
let programTimer = undefined;

async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function codeLines(lines, gutter = false) {
  const m = gutter ? '<span class="m"></span>' : '';
  return lines.map((l, i) => `<div class="ln" data-n="${i + 1}"><span class="g">${i + 1}</span>${m}<span class="t">${l || ' '}</span></div>`).join('');
}

async function renderProgram(key, keepScroll = false) {
  programKey = key;
  const y = window.scrollY;
  let d;
  try {
    d = await api(`/api/program?key=${encodeURIComponent(key)}`);
  } catch (e) {
    view.innerHTML = `<p><a href="#/">← all programs</a></p><p class="empty">${esc(e.message)}</p>`;
    return;
  }
  if (programKey !== key || !route().path.startsWith('/p/')) return;
  // A live re-render keeps what the curator is typing (the files are the truth once saved).
  const typing = {};
  const said = {};
  if (view.dataset.key === key) {
    for (const id of ['prompt', 'note']) {
      const el = document.getElementById(id);
      if (el && el.value !== el.defaultValue) typing[id] = el.value;
    }
    for (const id of ['prompt-status', 'curate-status']) said[id] = document.getElementById(id)?.textContent || '';
  }
  const row = d.row || { key, cells: {} };
  const v = verdictOf(row);
  const chosenAsm = new URLSearchParams(route().q).get('asm') || d.asm[0]?.target;
  const badges = S.targets.map((t) => {
    const c = row.cells[t];
    return `<span class="badge st-${c?.s || 'none'}" data-target="${esc(t)}" data-status="${c?.s || 'none'}">${esc(t)} ${c ? (c.s === 'ok' ? '✓' : c.s === 'propagated' ? '–' : c.s === 'running' ? '…' : `✗ ${esc(c.r || c.s)}`) : '·'}${c?.tok !== undefined ? ` · ${c.tok} tok` : ''}</span>`;
  }).join('');
  const facts = [row.tokens !== undefined ? `${row.tokens} tokens per example` : '', row.split ? `split: ${row.split}` : '', row.variant ? `variant: ${row.variant}` : '', row.excluded ? `excluded: ${row.excluded}${row.note ? ` — “${row.note}”` : ''}` : ''].filter(Boolean);
  const curated = row.excluded === 'curated';
  const diff = d.output?.diff ? `<div class="panel" id="diff"><h2>Output: expected vs actual</h2>${d.output.diff}</div>` : '';
  const rej = d.rejections.filter((r) => !r.propagated).map((r) => `<div><b>${esc(r.target)}</b>: <span class="st-rejected">${esc(r.reason)}</span><pre class="msg">${esc(r.message)}</pre></div>`).join('');
  const asmTabs = d.asm.map((a) => `<button data-asm="${esc(a.target)}" class="${a.target === chosenAsm ? 'on' : ''}">${esc(a.target)}${a.variant ? ` (${esc(a.variant)})` : ''}${a.status !== 'ok' ? ' ✗' : ''}</button>`).join('');
  const asm = d.asm.find((a) => a.target === chosenAsm);
  const hist = (history.get(key) || []).map((h) => `<li data-verdict="${esc(h.verdict)}"><span class="note">${new Date(h.t).toLocaleTimeString()}</span> <b class="${h.verdict === 'ok' ? 'st-ok' : 'st-rejected'}">${esc(h.verdict)}</b> <span class="note">${esc(h.text)}</span></li>`).join('');
  const label = (id) => (d.eval?.models || []).find((m) => m.id === id)?.label || id;
  const evalHtml = d.eval ? `<h2>Eval samples <span class="note">from the eval report</span></h2><table class="eval" id="eval-samples"><tr><th>model</th><th>sample</th><th>verdict</th><th>detail</th></tr>${d.eval.samples.map((s) => `<tr data-model="${esc(s.model)}" data-index="${s.index}" data-verdict="${esc(s.verdict)}"><td>${esc(label(s.model))}</td><td>${s.index}</td><td class="${s.verdict === 'ok' ? 'st-ok' : 'st-rejected'}">${esc(s.verdict)}</td><td>${esc(s.detail)}</td></tr>`).join('')}</table>` : '';
  view.innerHTML = `
    <p><a href="#/">← all programs</a></p>
    <h1 id="program-name" data-verdict="${esc(v)}">${esc(key)}</h1>
    <div class="badges">${badges}</div>
    <div class="note">${esc(facts.join(' · '))}</div>
    ${diff}
    ${rej ? `<div class="panel" id="rejections"><h2>Why it was rejected</h2>${rej}</div>` : ''}
    <div class="panel curate" id="curate">
      ${curated
        ? `<span>Excluded from the dataset${row.note ? `: “${esc(row.note)}”` : ''}.</span><button id="include">Include again</button>`
        : `<input type="text" id="note" placeholder="note: why exclude it (kept in curation.yaml)"><button class="danger" id="exclude">Exclude from dataset</button>`}
      <span class="note" id="curate-status"></span>
    </div>
    <div class="side">
      <div><h2>C++ <span class="note">${esc(d.source?.path || '')}</span></h2><div class="src code" id="cpp">${codeLines(d.source?.lines || [])}</div></div>
      <div><h2>Assembly <span class="note" id="map-status"></span></h2><div class="tabs" id="asm-tabs">${asmTabs}</div>
        <div class="src code" id="asm" data-target="${esc(asm?.target || '')}">${asm ? codeLines(asm.lines, !!asm.mappable) : '<p class="empty">no assembly</p>'}</div></div>
    </div>
    <h2>Prompt <span class="note">${esc(d.prompt?.path || '')}${d.prompt && !d.prompt.exists ? ' (missing)' : ''}</span></h2>
    <textarea id="prompt">${esc(d.prompt?.text || '')}</textarea>
    <div class="curate"><button id="save-prompt" ${d.prompt ? '' : 'disabled'}>Save prompt</button><span class="note" id="prompt-status"></span></div>
    ${d.sidecars.length ? `<h2>Test cases and other files</h2>${d.sidecars.map((s) => `<div><b>${esc(s.name)}</b> <span class="note">${esc(s.path)}</span><pre class="code">${esc(s.text)}</pre></div>`).join('')}` : ''}
    ${d.output && !d.output.diff ? `<h2>Expected output <span class="note">${esc(d.output.expectedPath)}</span></h2><pre class="code">${esc(d.output.expected)}</pre>` : ''}
    <h2>History since this page was opened</h2><ol class="history" id="history">${hist || '<li class="note">no change yet</li>'}</ol>
    ${evalHtml}`;
  view.dataset.key = key;
  for (const [id, v] of Object.entries(typing)) {
    const el = document.getElementById(id);
    if (el) el.value = v;
  }
  for (const [id, v] of Object.entries(said)) {
    const el = document.getElementById(id);
    if (el && v) el.textContent = v;
  }
  if (keepScroll) window.scrollTo(0, y);
  $('#asm-tabs').addEventListener('click', (ev) => {
    const b = ev.target.closest('button');
    if (b) go(`/p/${encodeURIComponent(key)}`, new URLSearchParams({ asm: b.dataset.asm }));
  });
  const status = (id, text) => { const el = $(id); if (el) el.textContent = text; };
  $('#exclude')?.addEventListener('click', async () => {
    try {
      const r = await api('/api/exclude', { key, note: $('#note').value });
      status('#curate-status', `written to ${r.wrote}; rebuilding…`);
    } catch (e) { status('#curate-status', e.message); }
  });
  $('#include')?.addEventListener('click', async () => {
    try {
      const r = await api('/api/include', { key });
      status('#curate-status', `removed from ${r.wrote}; rebuilding…`);
    } catch (e) { status('#curate-status', e.message); }
  });
  $('#save-prompt').addEventListener('click', async () => {
    try {
      const r = await api('/api/prompt', { key, text: $('#prompt').value });
      status('#prompt-status', `written to ${r.wrote}; rebuilding…`);
    } catch (e) { status('#prompt-status', e.message); }
  });
  if (asm?.mappable) mapSourceLines(key, asm.target);
}

async function mapSourceLines(key, target) {
  const st = $('#map-status');
  let m;
  try {
    m = await api(`/api/map?key=${encodeURIComponent(key)}&target=${encodeURIComponent(target)}`);
  } catch (e) {
    if (st) st.textContent = `no source lines: ${e.message}`;
    return;
  }
  const asmEl = $('#asm');
  if (!asmEl || asmEl.dataset.target !== target || programKey !== key) return;
  const lines = asmEl.children;
  let mapped = 0;
  m.lines.forEach((n, i) => {
    if (n == null || !lines[i]) return;
    mapped++;
    lines[i].dataset.src = n;
    const g = lines[i].querySelector('.m');
    if (g) g.textContent = n;
  });
  if (st) { st.textContent = `${mapped} lines mapped to C++ (g++ -fverbose-asm)`; st.title = m.how; }
  const cpp = $('#cpp');
  const clear = () => document.querySelectorAll('.ln.hl').forEach((x) => x.classList.remove('hl'));
  asmEl.addEventListener('mouseover', (ev) => {
    const ln = ev.target.closest('.ln[data-src]');
    if (!ln) return;
    clear();
    const n = ln.dataset.src;
    const c = cpp.querySelector(`.ln[data-n="${n}"]`);
    c?.classList.add('hl');
    asmEl.querySelectorAll(`.ln[data-src="${n}"]`).forEach((x) => x.classList.add('hl'));
  });
  cpp.addEventListener('mouseover', (ev) => {
    const ln = ev.target.closest('.ln');
    if (!ln) return;
    clear();
    ln.classList.add('hl');
    const hits = asmEl.querySelectorAll(`.ln[data-src="${ln.dataset.n}"]`);
    hits.forEach((x) => x.classList.add('hl'));
  });
  cpp.addEventListener('click', (ev) => {
    const ln = ev.target.closest('.ln');
    const hit = ln && asmEl.querySelector(`.ln[data-src="${ln.dataset.n}"]`);
    if (hit) asmEl.scrollTop = hit.offsetTop - asmEl.offsetTop - 40;
  });
}

// ------------------------------------------------------------------ plots and eval

async function renderPlots() {
  delete view.dataset.key;
  let p;
  try {
    p = await api('/api/plots');
  } catch (e) {
    view.innerHTML = `<p class="empty">${esc(e.message)}</p>`;
    return;
  }
  if (route().path !== '/plots') return;
  const s = p.summary;
  view.innerHTML = `<div class="plots">
    <h1>Dataset ${esc(p.dataset || '')}</h1>
    ${s ? `<p class="note">${s.examples.total} examples (${s.examples.train} train, ${s.examples.valid} valid) · median ${s.tokens.median} tokens per example, max ${s.tokens.max} · limit ${s.limit} for ${esc(s.model)} · estimated fine-tuning cost ${s.cost.usd == null ? 'unknown' : `$${s.cost.usd.toFixed(2)}`}</p>` : '<p class="empty">No dataset report yet.</p>'}
    <h2>Tokens per example against the model limits</h2>${p.tokens}
    <h2>Programs per verdict</h2>${p.verdicts}
    <h2>Estimated fine-tuning cost by model</h2>${p.cost}</div>`;
}

const pct = (x) => (x == null ? '–' : `${(x * 100).toFixed(1)} %`);
const baseKey = (id) => id.replace(/\[.*$/, '');

function renderEval() {
  delete view.dataset.key;
  const r = S.eval;
  if (!r) {
    view.innerHTML = '<p class="empty">No eval report: add an <code>eval</code> target and build it.</p>';
    return;
  }
  const models = r.models || [];
  const prompts = r.prompts || [];
  const samples = r.samples || [];
  const metrics = new Map((r.metrics?.models || []).map((m) => [m.model, m]));
  const k = r.metrics?.k;
  const cell = (m, p) => {
    const ss = samples.filter((s) => s.model === m.id && s.prompt === p.id);
    const ok = ss.filter((s) => s.verdict === 'ok').length;
    const title = ss.map((s) => `#${s.index}: ${s.verdict}`).join(', ');
    return `<td class="${ok ? 'st-ok' : 'st-rejected'}" data-model="${esc(m.id)}" data-prompt="${esc(p.id)}" data-ok="${ok}" data-n="${ss.length}" title="${esc(title)}">${ok}/${ss.length}</td>`;
  };
  const modelRow = (m) => {
    const x = metrics.get(m.id);
    if (!x) return `<tr data-model="${esc(m.id)}"><td>${esc(m.label || m.id)}</td><td colspan="5" class="note">no metrics</td></tr>`;
    const fig = (name, v) => `<td class="num" data-fig="${name}" data-value="${v ?? ''}">${pct(v)}</td>`;
    return `<tr data-model="${esc(m.id)}"><td>${esc(m.label || m.id)}${m.label && m.label !== m.id ? ` <span class="note">${esc(m.id)}</span>` : ''}</td>
      <td class="num" data-fig="samples">${x.samples}</td>${fig('passAt1', x.passAt1)}${fig('passAtK', x.passAtK)}
      <td class="num" data-fig="solved">${x.promptsSolved}/${x.prompts}</td>
      <td class="note">${['extracted', 'assembles', 'links', 'runs', 'matches'].map((st) => `${st} ${pct(x.rates?.[st])}`).join(' · ')}</td></tr>`;
  };
  view.innerHTML = `<h1>Eval</h1>
    <p class="note">${esc(r.title || '')}${r.generatedAt ? ` · ${esc(new Date(r.generatedAt).toLocaleString())}` : ''} · ${prompts.length} prompts × ${models.length} models · read from the eval report</p>
    <h2>Per model</h2>
    <table class="eval" id="eval-models"><tr><th>model</th><th>samples</th><th>pass@1</th><th>pass@${esc(k ?? 'k')}</th><th>prompts solved</th><th>stages passed</th></tr>
    ${models.map(modelRow).join('')}</table>
    <h2>Per prompt: output matches of the samples</h2>
    <table class="eval" id="eval-prompts"><tr><th>prompt</th>${models.map((m) => `<th>${esc(m.label || m.id)}</th>`).join('')}</tr>
    ${prompts.map((p) => `<tr data-prompt="${esc(p.id)}"><td><a href="#/p/${encodeURIComponent(baseKey(p.id))}">${esc(p.id)}</a></td>${models.map((m) => cell(m, p)).join('')}</tr>`).join('')}</table>`;
}

// ------------------------------------------------------------------ live updates

function showCycle() {
  const c = S.cycle;
  const el = $('#cycle');
  if (!c) { el.textContent = 'waiting for the first build…'; return; }
  el.classList.toggle('running', c.running);
  el.dataset.running = String(c.running);
  el.dataset.cycle = String(c.n);
  el.textContent = c.running
    ? `building… ${c.changed.length ? c.changed.slice(0, 2).join(', ') : 'initial build'}`
    : `cycle ${c.n} ${c.ok ? 'done' : 'failed'} in ${c.ms} ms${c.error ? `: ${c.error}` : ''} · ${new Date(c.at).toLocaleTimeString()}`;
}

function applySnapshot(s) {
  S.targets = s.targets;
  S.verdictTarget = s.verdictTarget;
  S.rows = new Map(s.rows.map((r) => [r.key, r]));
  S.dataset = s.dataset;
  S.eval = s.eval;
  S.cycle = s.cycle;
  for (const r of s.rows) remember(r);
  $('#nav-eval').hidden = !S.eval;
  showCycle();
  render();
}

function applyDelta(d) {
  if (d.targets) S.targets = d.targets;
  if (d.verdictTarget) S.verdictTarget = d.verdictTarget;
  if (d.eval) { S.eval = d.eval; $('#nav-eval').hidden = false; }
  if (d.dataset) S.dataset = d.dataset;
  for (const k of d.removed || []) S.rows.delete(k);
  for (const r of d.rows || []) {
    S.rows.set(r.key, r);
    remember(r);
  }
  if (d.cycle) { S.cycle = d.cycle; showCycle(); }
  const r = route();
  if (d.targets) return render();
  if (r.path === '/') patchTable(d.rows || [], d.removed || []);
  else if (r.path.startsWith('/p/')) {
    const key = decodeURIComponent(r.path.slice(3));
    if ((d.rows || []).some((x) => x.key === key) || (d.cycle && !d.cycle.running)) {
      clearTimeout(programTimer);
      programTimer = setTimeout(() => renderProgram(key, true), 80);
    }
  } else if (r.path === '/plots' && (d.dataset || d.rows)) renderPlots();
  else if (r.path === '/eval' && d.eval) renderEval();
}

function connect() {
  const es = new EventSource('/api/events');
  es.addEventListener('snapshot', (ev) => {
    const t0 = performance.now();
    const s = JSON.parse(ev.data);
    applySnapshot(s);
    $('#conn').classList.add('live');
    requestAnimationFrame(() => setTimeout(() => {
      if (perf.firstPaint === undefined && s.rows.length) {
        perf.firstPaint = performance.now();
        perf.snapshotRows = s.rows.length;
        perf.snapshotApplyMs = performance.now() - t0;
      }
    }, 0));
  });
  es.addEventListener('delta', (ev) => {
    const t0 = performance.now();
    applyDelta(JSON.parse(ev.data));
    const sync = performance.now() - t0;
    requestAnimationFrame(() => setTimeout(() => {
      perf.applies.push({ syncMs: sync, paintedMs: performance.now() - t0, at: performance.now() });
      if (perf.applies.length > 1000) perf.applies.shift();
    }, 0));
  });
  es.onerror = () => $('#conn').classList.remove('live');
}

connect();
