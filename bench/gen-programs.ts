/**
 * Deterministic synthetic C++ programs for the benchmark.
 *
 * `generatePrograms(n, seed)` always returns the same n programs for the same seed. Each one:
 *  - starts with `#include <H>` for H in iostream / vector / string / map / cstdio (round-robin
 *    with a seeded shuffle, so every header appears about n/5 times — the PCH path of the
 *    `compile` kind applies to all but cstdio);
 *  - has 1–12 helper functions (sizes vary), loops, fixed-size arrays, and prints a few lines;
 *  - is deterministic (no clocks, no uninitialised reads, no UB on signed overflow: arithmetic is
 *    done on `unsigned`), terminates quickly and exits with status 0;
 *  - has a `// EDIT-SLOT` line inside main() where the one-file-edit benchmark inserts a statement.
 *
 * Also: `generateSmallFiles` for the cheap `command` pipelines (10,000 / 100,000 items).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export const HEADERS = ['iostream', 'vector', 'string', 'map', 'cstdio'] as const;
export type Header = (typeof HEADERS)[number];

export interface Program {
  /** File stem, e.g. `p00042_vector`. */
  name: string;
  header: Header;
  source: string;
}

/** mulberry32: small, fast, good enough for choosing program shapes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly r: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }
}

/** A line of output in the program's own I/O style. `expr` is an unsigned expression. */
function printLine(h: Header, label: string, expr: string): string {
  switch (h) {
    case 'cstdio':
      return `std::printf("${label} %u\\n", (unsigned)(${expr}));`;
    case 'iostream':
      return `std::cout << "${label} " << (unsigned)(${expr}) << '\\n';`;
    default:
      // vector / string / map programs print with printf too (after their own first header).
      return `std::printf("${label} %u\\n", (unsigned)(${expr}));`;
  }
}

function helper(g: Gen, i: number): string {
  const n = g.int(4, 24);
  const mul = g.int(3, 97);
  const add = g.int(1, 1000);
  const shape = g.int(0, 3);
  const lines: string[] = [];
  lines.push(`static unsigned f${i}(unsigned x) {`);
  switch (shape) {
    case 0:
      lines.push(`  unsigned acc = ${add}u;`);
      lines.push(`  for (unsigned k = 0; k < ${n}u; ++k) acc = acc * ${mul}u + (x ^ k);`);
      lines.push('  return acc;');
      break;
    case 1:
      lines.push(`  unsigned a[${n}];`);
      lines.push(`  for (unsigned k = 0; k < ${n}u; ++k) a[k] = (x + k * ${mul}u) % ${add + 7}u;`);
      lines.push('  unsigned best = 0;');
      lines.push(`  for (unsigned k = 0; k < ${n}u; ++k) if (a[k] > best) best = a[k];`);
      lines.push('  return best;');
      break;
    case 2:
      lines.push(`  unsigned a = x, b = ${add}u;`);
      lines.push(`  for (int k = 0; k < ${n}; ++k) {`);
      lines.push('    unsigned t = a % (b + 1u);');
      lines.push(`    a = b; b = t + ${mul}u;`);
      lines.push('  }');
      lines.push('  return a + b;');
      break;
    default:
      lines.push(`  unsigned m[${Math.min(n, 8)}][${Math.min(n, 8)}];`);
      lines.push(`  for (unsigned r = 0; r < ${Math.min(n, 8)}u; ++r)`);
      lines.push(`    for (unsigned c = 0; c < ${Math.min(n, 8)}u; ++c) m[r][c] = (r * ${mul}u + c + x) & 255u;`);
      lines.push('  unsigned s = 0;');
      lines.push(`  for (unsigned r = 0; r < ${Math.min(n, 8)}u; ++r) s += m[r][r];`);
      lines.push('  return s;');
  }
  lines.push('}');
  return lines.join('\n');
}

/** Body lines specific to the first header, using its container. */
function headerBlock(g: Gen, h: Header): { includes: string[]; body: string[] } {
  const n = g.int(3, 12);
  switch (h) {
    case 'vector':
      return {
        includes: ['#include <cstdio>'],
        body: [
          '  std::vector<unsigned> v;',
          `  for (unsigned k = 0; k < ${n}u; ++k) v.push_back(k * k + ${g.int(1, 50)}u);`,
          '  unsigned vs = 0;',
          '  for (unsigned x : v) vs += x;',
          `  ${printLine(h, 'vector', 'vs + v.size()')}`,
        ],
      };
    case 'string':
      return {
        includes: ['#include <cstdio>'],
        body: [
          `  std::string s = "${'abcdefghij'.slice(0, g.int(2, 10))}";`,
          `  for (int k = 0; k < ${n}; ++k) s += char('a' + k % 26);`,
          '  unsigned hs = 0;',
          '  for (char c : s) hs = hs * 31u + (unsigned char)c;',
          `  ${printLine(h, 'string', 'hs + s.size()')}`,
        ],
      };
    case 'map':
      return {
        includes: ['#include <cstdio>'],
        body: [
          '  std::map<unsigned, unsigned> mp;',
          `  for (unsigned k = 0; k < ${n}u; ++k) mp[(k * ${g.int(3, 17)}u) % ${n + 3}u] += k;`,
          '  unsigned ms = 0;',
          '  for (const auto &kv : mp) ms = ms * 7u + kv.first + kv.second;',
          `  ${printLine(h, 'map', 'ms + mp.size()')}`,
        ],
      };
    case 'iostream':
      return {
        includes: [],
        body: [
          `  unsigned arr[${n}];`,
          `  for (unsigned k = 0; k < ${n}u; ++k) arr[k] = k * ${g.int(2, 9)}u + 1u;`,
          '  unsigned as = 0;',
          `  for (unsigned k = 0; k < ${n}u; ++k) as += arr[k];`,
          `  ${printLine(h, 'array', 'as')}`,
        ],
      };
    case 'cstdio':
      return {
        includes: [],
        body: [
          `  char buf[${n + 16}];`,
          `  std::snprintf(buf, sizeof buf, "n=%d", ${n});`,
          '  std::puts(buf);',
        ],
      };
  }
}

export function generateProgram(index: number, header: Header, seed: number): Program {
  const g = new Gen(rng((seed * 1_000_003 + index * 7919) >>> 0));
  // Sizes vary: most programs are small, some are bigger.
  const nf = g.r() < 0.8 ? g.int(1, 4) : g.int(5, 12);
  const block = headerBlock(g, header);
  const lines: string[] = [];
  lines.push(`#include <${header}>`);
  lines.push(...block.includes);
  lines.push('');
  lines.push(`// synthetic program ${index} (seed ${seed}): first header <${header}>, ${nf} helpers`);
  for (let i = 0; i < nf; i++) lines.push(helper(g, i), '');
  lines.push('int main() {');
  lines.push('  // EDIT-SLOT');
  lines.push(`  unsigned total = ${g.int(0, 99)}u;`);
  for (let i = 0; i < nf; i++) {
    lines.push(`  unsigned r${i} = f${i}(${g.int(1, 500)}u);`);
    lines.push(`  total += r${i};`);
    if (g.r() < 0.5) lines.push(`  ${printLine(header, `f${i}`, `r${i}`)}`);
  }
  lines.push(...block.body);
  lines.push(`  ${printLine(header, 'total', 'total')}`);
  lines.push('  return 0;');
  lines.push('}');
  const name = `p${String(index).padStart(5, '0')}_${header}`;
  return { name, header, source: `${lines.join('\n')}\n` };
}

/** n programs; first headers cycle through HEADERS so each appears ~n/5 times. */
export function generatePrograms(n: number, seed = 1): Program[] {
  const out: Program[] = [];
  for (let i = 0; i < n; i++) out.push(generateProgram(i, HEADERS[i % HEADERS.length], seed));
  return out;
}

export async function writePrograms(dir: string, programs: Program[]): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  for (const p of programs) await fsp.writeFile(path.join(dir, `${p.name}.cpp`), p.source);
}

/** n small text files `f000000.txt` … with deterministic contents (~60–200 bytes each). */
export async function generateSmallFiles(dir: string, n: number, seed = 7): Promise<string[]> {
  await fsp.mkdir(dir, { recursive: true });
  const r = rng(seed);
  const names: string[] = [];
  const width = Math.max(6, String(n - 1).length);
  const batch: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const name = `f${String(i).padStart(width, '0')}`;
    names.push(name);
    const len = 60 + Math.floor(r() * 140);
    let s = `${name}:`;
    while (s.length < len) s += Math.floor(r() * 1e9).toString(36);
    batch.push(fsp.writeFile(path.join(dir, `${name}.txt`), `${s.slice(0, len)}\n`));
    if (batch.length >= 256) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  return names;
}
