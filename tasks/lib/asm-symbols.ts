/**
 * Two cleaning filters that work on symbols rather than lines (see asm-clean.ts for the others):
 *
 * - `rename`: the C++ symbols this file defines itself (its functions, template instantiations,
 *   COMDAT copies of inline functions, vtables, typeinfo) get short local names (`F1`, `F2`, …
 *   for code, `D1`, … for data) in order of definition, and their `.globl` / `.weak` / `.hidden`
 *   lines go. A program is one object file linked against libstdc++, so a symbol that only this
 *   file defines and uses needs no global name. Never renamed: `main` and anything not
 *   `_Z`-mangled (C names another object or libc may look up), operator new/delete (a program
 *   may replace them for the whole process, libstdc++ included), and data objects in the
 *   `std`/`__gnu_cxx`/`__cxxabiv1` namespaces (statics libstdc++ may share). Text inside
 *   `.string`/`.ascii` lines is never touched (typeinfo names are compared by content).
 * - `directives`: what an executable does not need: `.type … @function|@object` and `.size`
 *   (symbol-table metadata) and COMDAT section switches, which become the plain section they
 *   name (`.text`, `.section .rodata`, …): COMDAT groups only matter when several objects are
 *   linked; then a switch to the section the file is already in goes. Any other `.type` (ifunc,
 *   gnu_unique_object of a symbol that keeps its name) stays, and so does every `.align` (member
 *   functions must sit at even addresses: the Itanium ABI's pointers to members use the low bit).
 *
 * Both only produce candidates: `validate` keeps a file cleaned with them only if it assembles,
 * links and behaves exactly like the C++, and otherwise falls back (and says so).
 */

const SYMBOL = /[A-Za-z_.$][A-Za-z0-9_.$]*/g;
const DEF = /^([A-Za-z_.$][A-Za-z0-9_.$]*):/;
const SET_DEF = /^\s*\.set\s+([A-Za-z_.$][A-Za-z0-9_.$]*)\s*,/;
const STRING_LINE = /^\s*\.(string|ascii|asciz)\b/;

/** True for a symbol that the rename filter may give a local name. */
export function renamable(sym: string, isData: boolean): boolean {
  if (!sym.startsWith('_Z')) return false;
  if (/^_Z(nw|na|dl|da)/.test(sym)) return false; // operator new/delete: replaceable for the whole process
  if (isData && /^_Z(N|NK)?(St|9__gnu_cxx|10__cxxabiv1)/.test(sym)) return false;
  if (isData && /^_ZN?S[tabiosd]/.test(sym)) return false;
  return true;
}

export interface RenameResult {
  lines: string[];
  renamed: number;
  /** Lines removed (`.globl`/`.weak`/`.hidden` of renamed symbols). */
  removedLines: number;
}

export function renameSymbols(lines: string[]): RenameResult {
  const defined: string[] = [];
  const seen = new Set<string>();
  const dataSyms = new Set<string>();
  const funcSyms = new Set<string>();
  const allTokens = new Set<string>();
  for (const l of lines) {
    const d = DEF.exec(l) ?? SET_DEF.exec(l);
    if (d && !d[1]!.startsWith('.L') && !seen.has(d[1]!)) {
      seen.add(d[1]!);
      defined.push(d[1]!);
    }
    const t = /^\s*\.type\s+([^,\s]+)\s*,\s*[@%](\w+)/.exec(l); // `@function` (x86), `%function` (Arm)
    if (t) (t[2] === 'function' ? funcSyms : dataSyms).add(t[1]!);
    if (!STRING_LINE.test(l)) for (const m of l.matchAll(SYMBOL)) allTokens.add(m[0]);
  }
  // `.set alias, target` defines an alias of the target's kind.
  for (const l of lines) {
    const s = /^\s*\.set\s+([^,\s]+)\s*,\s*([^\s]+)/.exec(l);
    if (s && funcSyms.has(s[2]!)) funcSyms.add(s[1]!);
  }
  const map = new Map<string, string>();
  const prefix = (base: string) => {
    let p = base;
    // Never collide with a name already in the file.
    for (;;) {
      const re = new RegExp(`^${p}\\d+$`);
      if (![...allTokens].some((t) => re.test(t))) return p;
      p += base;
    }
  };
  const fp = prefix('F');
  const dp = prefix('D');
  let nf = 0;
  let nd = 0;
  for (const sym of defined) {
    const isData = !funcSyms.has(sym);
    if (!renamable(sym, isData)) continue;
    map.set(sym, isData ? `${dp}${++nd}` : `${fp}${++nf}`);
  }
  if (!map.size) return { lines, renamed: 0, removedLines: 0 };
  const out: string[] = [];
  let removedLines = 0;
  for (const l of lines) {
    const vis = /^\s*\.(globl|weak|hidden|protected|internal)\s+([A-Za-z_.$][A-Za-z0-9_.$]*)\s*$/.exec(l);
    if (vis && map.has(vis[2]!)) {
      removedLines++;
      continue;
    }
    if (STRING_LINE.test(l)) {
      out.push(l);
      continue;
    }
    // A local symbol cannot be unique across objects: it is a plain object now.
    const uniq = /^(\s*\.type\s+)([^,\s]+)(\s*,\s*)([@%])gnu_unique_object\s*$/.exec(l);
    if (uniq && map.has(uniq[2]!)) {
      out.push(`${uniq[1]}${map.get(uniq[2]!)}${uniq[3]}${uniq[4]}object`);
      continue;
    }
    out.push(l.replace(SYMBOL, (m) => map.get(m) ?? m));
  }
  return { lines: out, renamed: map.size, removedLines };
}

const COMDAT_SECTION = /^\s*\.section\s+([^,\s]+)\s*,\s*"([^"]*)"\s*,\s*([@%])(\w+)\s*,\s*[^,\s]+\s*,\s*comdat\s*$/;

/** The plain section a COMDAT section switch stands for, or undefined to keep the line. */
function plainSection(name: string, flags: string, type: string, mark: string): string | undefined {
  const f = flags.replace('G', '');
  if (/^\.text(\.|$)/.test(name) && f === 'ax' && type === 'progbits') return '\t.text';
  if (/^\.rodata(\.|$)/.test(name) && f === 'a' && type === 'progbits') return '\t.section\t.rodata';
  if (/^\.data\.rel\.ro(\.local)?(\.|$)/.test(name) && f === 'aw' && type === 'progbits') return '\t.section\t.data.rel.ro,"aw"';
  if (/^\.data\.rel(\.local)?(\.|$)/.test(name) && f === 'aw' && type === 'progbits') return '\t.section\t.data.rel,"aw"';
  if (/^\.data(\.|$)/.test(name) && f === 'aw' && type === 'progbits') return '\t.data';
  if (/^\.bss(\.|$)/.test(name) && f === 'aw' && type === 'nobits') return '\t.bss';
  if (/^\.gcc_except_table(\.|$)/.test(name) && f === 'a' && type === 'progbits') return `\t.section\t.gcc_except_table,"a",${mark}progbits`;
  return undefined;
}

export function dropDirectives(lines: string[]): { lines: string[]; removed: number } {
  const out: string[] = [];
  let removed = 0;
  for (const l of lines) {
    if (/^\s*\.type\s+[^,\s]+\s*,\s*[@%](function|object)\s*$/.test(l) || /^\s*\.size\s/.test(l)) {
      removed++;
      continue;
    }
    const c = COMDAT_SECTION.exec(l);
    if (c) {
      const plain = plainSection(c[1]!, c[2]!, c[4]!, c[3]!);
      if (plain) {
        removed++;
        out.push(plain);
        continue;
      }
    }
    out.push(l);
  }
  // A switch to the section the file is already in (after COMDAT switches became plain ones).
  const final: string[] = [];
  let current: string | undefined;
  for (const l of out) {
    const t = l.trim();
    const m = /^\.(text|data|bss)\s*$/.exec(t) ?? /^\.section\s+(.+)$/.exec(t);
    if (m) {
      const name = m[1]!.replace(/\s+/g, '');
      if (name === current) {
        removed++;
        continue;
      }
      current = name;
    } else if (/^\.(pushsection|popsection|previous|subsection)\b/.test(t)) current = undefined;
    final.push(l);
  }
  return { lines: final, removed };
}
