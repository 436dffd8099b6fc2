/**
 * Optional noise removal for GCC assembly, each filter switchable. Every filter keeps the file
 * assemblable and the program's behaviour identical (test/asm-clean.test.ts builds and runs the
 * cleaned output); unlike Compiler Explorer's `directives` filter nothing structural is dropped.
 *
 * Traps handled here:
 * - `.cfi_*` lines are the unwind tables: stripping them makes any thrown C++ exception end in
 *   `terminate` (rc 134). The `cfi` filter therefore only runs when the caller passes
 *   `noExceptions: true` (see `usesExceptions`); otherwise it is reported in `refused`.
 * - `.LFB/.LFE/.LEHB/...` labels can be referenced from LSDA / debug data: `unusedLabels` only drops
 *   `.L` labels with zero references anywhere in the (already filtered) file.
 * - `.section .note.GNU-stack` is never removed (without it ld warns about an executable stack).
 * - `.file N "x"` (numbered, used by `.loc` with -g) is kept; only the plain `.file "x"` goes.
 * - `rename` and `directives` (asm-symbols.ts) work on symbols: short local names for what the
 *   file defines itself, and no symbol-table or COMDAT metadata.
 * - `FILTERS_V1` is the set that existed before `rename`/`directives`: the conservative fallback
 *   candidate compile also writes when those are on.
 *
 * Token savings measured over the corpus: see toolchain/README.md.
 */
import { countTokens as countO200k } from './tokens.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, removeDir, SOURCE_NAME } from './gxx.js';
import { runTool, type Toolchain } from './toolchain.js';
import { dropDirectives, renameSymbols } from './asm-symbols.js';

export const FILTERS = [
  'commentLines',
  'unusedLabels',
  'appMarkers',
  'fileDirective',
  'gnuProperty',
  'trailingSpace',
  'ident',
  'cfi',
  'rename',
  'directives',
] as const;
export type Filter = (typeof FILTERS)[number];

/** The filters before symbol renaming and directive removal: the conservative fallback. */
export const FILTERS_V1: readonly Filter[] = ['commentLines', 'unusedLabels', 'appMarkers', 'fileDirective', 'gnuProperty', 'trailingSpace', 'ident', 'cfi'];

export type CleanOptions = Partial<Record<Filter, boolean>> & {
  /** The program does not use exceptions (`usesExceptions` returned false): allows `cfi`. */
  noExceptions?: boolean;
};

export interface CleanResult {
  asm: string;
  /** Lines removed (for trailingSpace: lines changed) per filter; 0 for filters not applied. */
  removed: Record<Filter, number>;
  /** Filters that were requested but not applied, with the reason. */
  refused: Partial<Record<Filter, string>>;
  /** Symbols given short local names by `rename`. */
  renamed: number;
}

/** Every filter on; `cfi` only takes effect with `noExceptions`. */
export function allFilters(noExceptions: boolean): CleanOptions {
  const o: CleanOptions = { noExceptions };
  for (const f of FILTERS) o[f] = true;
  return o;
}

const SECTION_SWITCH = /^\s*\.(section|text|data|bss|pushsection|popsection|previous|subsection)\b/;
const APP_MARKER = /^\s*(#|\/\/|@)\s*(NO_)?APP\s*$/;
const LABEL_DEF = /^(\s*)(\.L[A-Za-z0-9_.$]+):(.*)$/;
const LOCAL_REF = /(?<![A-Za-z0-9_.$])\.L[A-Za-z0-9_.$]+/g;

function isCommentLine(line: string): boolean {
  const t = line.trim();
  if (t === '') return false;
  if (APP_MARKER.test(t)) return false; // handled by appMarkers
  if (t.startsWith('#') || t.startsWith('//')) return true;
  return /^\/\*.*\*\/$/.test(t) && !t.slice(2, -2).includes('*/');
}

export function cleanAsm(asm: string, opts: CleanOptions): CleanResult {
  const removed = Object.fromEntries(FILTERS.map((f) => [f, 0])) as Record<Filter, number>;
  const refused: Partial<Record<Filter, string>> = {};
  const endsWithNewline = asm.endsWith('\n');
  let lines = (endsWithNewline ? asm.slice(0, -1) : asm).split('\n');
  const hadGnuStack = lines.some((l) => /\.note\.GNU-stack/.test(l));
  let renamed = 0;

  const drop = (f: Filter, pred: (line: string) => boolean) => {
    const before = lines.length;
    lines = lines.filter((l) => !pred(l));
    removed[f] += before - lines.length;
  };

  if (opts.gnuProperty) {
    const out: string[] = [];
    let inBlock = false;
    for (const l of lines) {
      if (/^\s*\.section\s+\.note\.gnu\.property\b/.test(l)) {
        inBlock = true;
        removed.gnuProperty++;
        continue;
      }
      if (inBlock && SECTION_SWITCH.test(l)) inBlock = false;
      if (inBlock) {
        removed.gnuProperty++;
        continue;
      }
      out.push(l);
    }
    lines = out;
  }
  if (opts.cfi) {
    if (opts.noExceptions === true) {
      drop('cfi', (l) => /^\s*\.cfi_/.test(l));
      // The LSDA tables (`.gcc_except_table`) are only reached through `.cfi_lsda`: gone with it.
      const out: string[] = [];
      let inTable = false;
      for (const l of lines) {
        if (/^\s*\.section\s+\.gcc_except_table\b/.test(l)) inTable = true;
        else if (inTable && SECTION_SWITCH.test(l)) inTable = false;
        if (inTable) removed.cfi++;
        else out.push(l);
      }
      lines = out;
    }
    else refused.cfi = 'the program may use exceptions: .cfi_* unwind info is needed (pass noExceptions only when usesExceptions() is false)';
  }
  if (opts.appMarkers) drop('appMarkers', (l) => APP_MARKER.test(l));
  if (opts.commentLines) drop('commentLines', isCommentLine);
  if (opts.fileDirective) drop('fileDirective', (l) => /^\s*\.file\s+"[^"]*"\s*$/.test(l));
  if (opts.ident) drop('ident', (l) => /^\s*\.ident\s/.test(l));
  if (opts.trailingSpace) {
    lines = lines.map((l) => {
      const t = l.replace(/[ \t\r]+$/, '');
      if (t !== l) removed.trailingSpace++;
      return t;
    });
  }
  if (opts.unusedLabels) {
    // Count every reference to a local label; a definition does not count as a reference.
    const refs = new Map<string, number>();
    for (const l of lines) {
      const def = LABEL_DEF.exec(l);
      const body = def ? def[3]! : l;
      for (const m of body.matchAll(LOCAL_REF)) refs.set(m[0], (refs.get(m[0]) ?? 0) + 1);
    }
    const out: string[] = [];
    for (const l of lines) {
      const def = LABEL_DEF.exec(l);
      if (def && !refs.get(def[2]!)) {
        removed.unusedLabels++;
        const rest = def[3]!.trim();
        if (rest !== '') out.push(`\t${rest}`); // `label: insn` keeps the instruction
        continue;
      }
      out.push(l);
    }
    lines = out;
  }

  if (opts.rename) {
    const r = renameSymbols(lines);
    lines = r.lines;
    removed.rename += r.removedLines;
    renamed = r.renamed;
  }
  if (opts.directives) {
    const r = dropDirectives(lines);
    lines = r.lines;
    removed.directives += r.removed;
  }

  if (hadGnuStack && !lines.some((l) => /\.note\.GNU-stack/.test(l))) {
    throw new Error('cleanAsm: internal error, .note.GNU-stack was removed');
  }
  let text = lines.join('\n');
  if (endsWithNewline) text += '\n';
  return { asm: text, removed, refused, renamed };
}

/** o200k_base token count. */
export function countTokens(text: string): number {
  return countO200k(text);
}

/**
 * True unless the source compiles with `-fno-exceptions` (front-end only, `-fsyntax-only`; template
 * instantiations are checked too). Sources that test `__cpp_exceptions`/`__EXCEPTIONS` count as
 * using exceptions, since they change meaning under -fno-exceptions.
 */
export async function usesExceptions(
  tc: Toolchain,
  source: string,
  flags: string[] = [],
  signal?: AbortSignal,
): Promise<boolean> {
  if (/\b__cpp_exceptions\b|\b__EXCEPTIONS\b/.test(source)) return true;
  const dir = await makeTempDir();
  try {
    await writeFile(path.join(dir, SOURCE_NAME), source);
    const r = await runTool(tc, [tc.cxx, '-fsyntax-only', ...tc.flags, ...flags, '-fno-exceptions', SOURCE_NAME], {
      cwd: dir,
      signal,
    });
    return r.code !== 0;
  } finally {
    await removeDir(dir);
  }
}
