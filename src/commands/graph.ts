/**
 * `asmgraph graph [TARGET...]`: the target graph as text (no Graphviz needed), DOT or Mermaid.
 * Naming targets shows them and everything they are built from (their ancestors).
 */
import type { Pipeline } from '../pipeline/model.js';
import { directDeps } from '../pipeline/model.js';

export type GraphFormat = 'text' | 'dot' | 'mermaid';

/** The named targets and every target they depend on, in dependency order. */
function withAncestors(p: Pipeline, names: string[]): Set<string> {
  const out = new Set<string>();
  const visit = (n: string) => {
    if (out.has(n)) return;
    for (const d of directDeps(p.targets.get(n)!)) visit(d);
    out.add(n);
  };
  for (const n of names) visit(n);
  return out;
}

export function renderGraph(p: Pipeline, format: GraphFormat, only?: string[]): string {
  const keep = only?.length ? withAncestors(p, only) : undefined;
  const targets = [...p.targets.values()].filter((t) => !keep || keep.has(t.name));
  if (format === 'text') return renderText(p, targets.map((t) => t.name));
  const edges: [string, string, string][] = [];
  for (const t of targets) {
    for (const f of t.from) edges.push([f, t.name, t.mode === 'map' ? 'each' : 'all']);
    for (const [n, w] of Object.entries(t.with)) edges.push([w, t.name, n]);
  }
  const label = (name: string) => {
    const t = p.targets.get(name)!;
    const mode = t.mode === 'map' ? 'per item' : t.mode === 'reduce' ? 'aggregate' : 'files';
    return `${name}\\n${t.kindName} (${mode})`;
  };
  if (format === 'dot') {
    const lines = ['digraph asmgraph {', '  rankdir=LR;', '  node [shape=box, fontname="sans-serif"];'];
    for (const t of targets) lines.push(`  "${t.name}" [label="${label(t.name)}"${t.mode === 'source' ? ', shape=folder' : ''}];`);
    for (const [a, b, l] of edges) lines.push(`  "${a}" -> "${b}" [label="${l}"];`);
    lines.push('}');
    return lines.join('\n');
  }
  const id = (n: string) => n.replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['flowchart LR'];
  for (const t of targets) lines.push(`  ${id(t.name)}["${label(t.name).replace('\\n', '<br/>')}"]`);
  for (const [a, b, l] of edges) lines.push(`  ${id(a)} -->|${l}| ${id(b)}`);
  return lines.join('\n');
}

/**
 * One line per target in dependency order, with what it is built from:
 *   asm        compile, per item   ← programs (each)
 */
function renderText(p: Pipeline, names: string[]): string {
  const order = [...withAncestors(p, names)].filter((n) => names.includes(n));
  const w = Math.max(...order.map((n) => n.length));
  const lines: string[] = [];
  for (const n of order) {
    const t = p.targets.get(n)!;
    const mode = t.mode === 'map' ? 'per item' : t.mode === 'reduce' ? 'aggregate' : 'files';
    const inputs = [...t.from.map((f) => `${f} (${t.mode === 'map' ? 'each' : 'all'})`), ...Object.entries(t.with).map(([k, v]) => `${v} (as ${k})`)];
    const glob = t.mode === 'source' ? `  ${JSON.stringify(t.params.glob)}` : '';
    lines.push(`${n.padEnd(w)}  ${`${t.kindName}, ${mode}`.padEnd(22)}${inputs.length ? ` ← ${inputs.join(', ')}` : glob}`);
  }
  return lines.join('\n');
}
