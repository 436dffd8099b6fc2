/** `asmgraph graph`: the target graph as DOT or Mermaid. */
import type { Pipeline } from '../pipeline/model.js';

export function renderGraph(p: Pipeline, format: 'dot' | 'mermaid', only?: string[]): string {
  const targets = [...p.targets.values()].filter((t) => !only?.length || only.includes(t.name));
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
