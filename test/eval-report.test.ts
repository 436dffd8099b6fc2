import { describe, expect, it } from 'vitest';
import { summarize } from '../src/eval/metrics.js';
import { escapeHtml, renderReport, stableJson, type ReportData, type ReportSample } from '../src/eval/report.js';

const EVIL = '<script>alert(1)</script>';

function fixture(): ReportData {
  const models = [
    { id: 'gpt-4o-mini-2024-07-18', label: 'gpt-4o-mini (base)' },
    { id: 'ft:gpt-4o-mini-2024-07-18:org:asm:abc123', label: 'fine-tune' },
    { id: 'local/qwen', label: 'Qwen <local> & "friends"' },
  ];
  const prompts = [
    { id: 'add', prompt: 'Write an Assembler program that adds 8 and 120.', cpp: '#include <iostream>\nint main() { std::cout << 8 + 120 << "\\n"; }', expectedOutput: '128\n' },
    { id: 'sort', prompt: 'Sort {3, 2, 5, 1, 4} & print | separated', cpp: '#include <algorithm>\nint main() {}', expectedOutput: '1 2 3 4 5\n' },
  ];
  const samples: ReportSample[] = [
    { model: models[0]!.id, prompt: 'add', index: 0, answer: 'section .text\nglobal _start', asm: 'section .text\nglobal _start', verdict: 'assemble-error', detail: 'NASM syntax given to GNU as (`section .text` (line 1))', usage: { input: 120, output: 600 } },
    { model: models[0]!.id, prompt: 'add', index: 1, answer: EVIL, verdict: 'no-asm', detail: 'no assembly in the answer', usage: { input: 120, output: 40 } },
    { model: models[1]!.id, prompt: 'add', index: 0, answer: 'Now, let\'s write the Assembler code:\nmain:\n\tret', asm: 'main:\n\tret', verdict: 'ok', detail: 'output matches', stdout: '128\n', usage: { input: 150, output: 900 } },
    { model: models[1]!.id, prompt: 'add', index: 1, answer: 'x', asm: `movl $0, %eax # ${EVIL}`, verdict: 'output-mismatch', detail: 'line 1: got "12" expected "128"', stdout: `12\n${EVIL}`, usage: { input: 150, output: 880 } },
    { model: models[1]!.id, prompt: 'sort', index: 0, answer: 'y', asm: 'main:\n\tcall sortit', verdict: 'link-error', detail: 'undefined reference to `sortit`', usage: { input: 160, output: 1200 } },
    { model: models[1]!.id, prompt: 'sort', index: 1, answer: 'y', asm: 'main:\n\tret', verdict: 'ok', detail: 'output matches', stdout: '1 2 3 4 5\n', usage: { input: 160, output: 1100 } },
    { model: models[2]!.id, prompt: 'sort', index: 0, answer: 'z', asm: 'main:\n\tjmp main', verdict: 'timeout', detail: 'killed after 5 s' },
  ];
  const metrics = summarize(samples, {
    k: 2,
    models: models.map((m) => m.id),
    prices: { [models[0]!.id]: { input: 0.15, output: 0.6 }, [models[1]!.id]: { input: 0.3, output: 1.2 } },
  });
  return { title: `asmgraph eval ${EVIL}`, generatedAt: '2025-01-02T03:04:05.000Z', models, prompts, samples, metrics };
}

describe('renderReport html', () => {
  const data = fixture();
  const { html } = renderReport(data);

  it('is one self-contained page: no scripts, no external URLs in src/href, no web fonts', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/@import|@font-face|url\(/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain('<style>');
  });

  it('has one inline SVG bar chart per metric, each with one labelled bar per model', () => {
    const svgs = html.match(/<svg\b[\s\S]*?<\/svg>/g) ?? [];
    const metrics = svgs.map((s) => /data-metric="([^"]+)"/.exec(s)?.[1]);
    expect(metrics).toEqual(['extracted', 'assembles', 'links', 'runs', 'matches', 'pass@1', 'pass@2']);
    for (const svg of svgs) {
      const bars = svg.match(/<rect class="bar" data-model="[^"]*"/g) ?? [];
      expect(bars.map((b) => /data-model="([^"]*)"/.exec(b)![1])).toEqual(data.models.map((m) => escapeHtml(m.id)));
      expect(svg).toContain('>gpt-4o-mini (base)</text>');
      expect(svg).toContain('>fine-tune</text>');
      expect(svg).toContain('Qwen &lt;local&gt; &amp; &quot;friends&quot;');
    }
    // value labels: fine-tune matches 2 of 4 = 50.0%; base 0.0%; qwen has 1 sample, a timeout: runs 0.0%
    const matches = svgs[4]!;
    expect(matches.match(/<text class="value"[^>]*>[^<]*/g)!.map((t) => t.replace(/.*>/, ''))).toEqual(['0.0%', '50.0%', '0.0%']);
    // pass@2 only over prompts with 2 samples: fine-tune add (c=1) and sort (c=1) → 1 each; qwen has none → n/a
    expect(svgs[6]!.match(/<text class="value"[^>]*>[^<]*/g)!.map((t) => t.replace(/.*>/, ''))).toEqual(['0.0%', '100.0%', 'n/a']);
  });

  it('escapes untrusted model output everywhere', () => {
    expect(html).not.toContain(EVIL);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('<title>asmgraph eval &lt;script&gt;');
  });

  it('shows each prompt with its C++ and every model side by side; extra samples collapsed', () => {
    const sections = html.match(/<section class="prompt"[\s\S]*?<\/section>/g) ?? [];
    expect(sections).toHaveLength(2);
    const add = sections[0]!;
    expect(add).toContain('Write an Assembler program that adds 8 and 120.');
    expect(add).toContain('#include &lt;iostream&gt;');
    expect(add.match(/<td class="mcell">/g)).toHaveLength(3);
    expect(add).toContain('<span class="badge v-assemble-error">assemble error</span>');
    expect(add).toContain('NASM syntax given to GNU as');
    expect(add).toContain('<span class="badge v-ok">ok</span>');
    // second samples live in <details>
    expect(add.match(/<details class="sample more" data-sample="1">/g)).toHaveLength(2);
    // qwen has no sample for "add"
    expect(add).toContain('no samples');
    const sort = sections[1]!;
    expect(sort).toContain('<span class="badge v-timeout">timeout</span>');
    expect(sort).toContain('undefined reference to `sortit`');
  });
});

describe('renderReport markdown', () => {
  const data = fixture();
  const { markdown } = renderReport(data);
  const lines = markdown.split('\n');

  it('has a metrics table with one row per model', () => {
    const header = lines.findIndex((l) => l.startsWith('| Model |'));
    expect(lines[header]).toBe('| Model | Samples | Extracted | Assembles | Links | Runs | Matches | pass@1 | pass@2 | Tokens in | Tokens out | Cost |');
    expect(lines[header + 2]).toBe('| gpt-4o-mini (base) | 2 | 50.0% (1) | 0.0% (0) | 0.0% (0) | 0.0% (0) | 0.0% (0) | 0.0% | 0.0% | 240 | 640 | $0.0004 |');
    expect(lines[header + 3]).toBe('| fine-tune | 4 | 100.0% (4) | 100.0% (4) | 75.0% (3) | 75.0% (3) | 50.0% (2) | 50.0% [50.0–50.0%] | 100.0% [100.0–100.0%] | 620 | 4,080 | $0.0051 |');
    expect(lines[header + 4]).toBe('| Qwen &lt;local&gt; & "friends" | 1 | 100.0% (1) | 100.0% (1) | 100.0% (1) | 0.0% (0) | 0.0% (0) | 0.0% | n/a | 0 | 0 | n/a |');
  });

  it('has a per-prompt verdict table, pipes escaped', () => {
    const header = lines.findIndex((l) => l.startsWith('| Prompt |'));
    expect(lines[header]).toBe('| Prompt | gpt-4o-mini (base) | fine-tune | Qwen &lt;local&gt; & "friends" |');
    expect(lines[header + 2]).toBe(
      '| `add` Write an Assembler program that adds 8 and 120. | 0/2 ok (no-asm ×1, assemble-error ×1) | 1/2 ok (output-mismatch ×1) | no samples |',
    );
    expect(lines[header + 3]).toBe('| `sort` Sort {3, 2, 5, 1, 4} & print \\| separated | no samples | 1/2 ok (link-error ×1) | 0/1 ok (timeout ×1) |');
    expect(markdown).not.toContain(EVIL);
  });
});

describe('renderReport json', () => {
  it('round-trips and has a stable key order', () => {
    const data = fixture();
    const { json } = renderReport(data);
    expect(JSON.parse(json)).toEqual(data);
    // same data with keys inserted in another order → identical text
    const shuffled = JSON.parse(JSON.stringify(data), (_k, v) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
    );
    expect(Object.keys(shuffled)[0]).not.toBe(Object.keys(data)[0]);
    expect(renderReport(shuffled).json).toBe(json);
    expect(Object.keys(JSON.parse(json))).toEqual(['generatedAt', 'metrics', 'models', 'prompts', 'samples', 'title']);
    expect(stableJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } })).toBe('{\n  "a": {\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n');
  });
});
