/**
 * Precompiled headers for the `-S` compiles.
 *
 * A program whose first code line is `#include <H>` (H in an allowlist of heavy headers) can be
 * compiled against `<pchDir>/<H>.gch` built with exactly the same flags. GCC uses a PCH only for
 * the first include and only when the flags match; otherwise it silently falls back to the header
 * (`-Winvalid-pch` makes that visible in stderr). Layout of a PCH dir: see `buildPch`. The
 * assembly is byte-identical with and without the PCH (test/gxx.test.ts checks the corpus).
 *
 * Measured with `compileToAsm` (`g++ -std=gnu++17 -S -O0`, one process per compile, spawn and temp
 * dir included), median of 5, on the project's 2-vCPU machine while other workers were running
 * (load average 4-10, so absolute numbers are inflated; the ratio is stable). Two sessions:
 *   hello (<iostream>)        without PCH 248 / 329 ms    with PCH 50 / 70 ms     (~4.7-5x)
 *   <bits/stdc++.h> program   without PCH 1189 / 1428 ms  with PCH 279 / 307 ms   (~4.3-4.7x)
 *   building iostream.gch 0.68-0.86 s (23 MB); bits/stdc++.h.gch 5.0-5.8 s (101 MB).
 * The .s was byte-identical in every case.
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTool, type Toolchain } from './toolchain.js';

/** Headers worth precompiling: slow to parse, common in the corpus. */
export const DEFAULT_PCH_HEADERS: readonly string[] = [
  'bits/stdc++.h',
  'iostream',
  'istream',
  'ostream',
  'sstream',
  'fstream',
  'iomanip',
  'string',
  'vector',
  'map',
  'set',
  'unordered_map',
  'unordered_set',
  'algorithm',
  'numeric',
  'functional',
  'memory',
  'queue',
  'deque',
  'stack',
  'list',
  'array',
  'tuple',
  'utility',
  'iterator',
  'bitset',
  'random',
  'regex',
  'chrono',
  'complex',
  'string_view',
  'optional',
  'variant',
];

/** Strips leading blank lines and comments; returns the rest of the source. */
function skipTrivia(src: string): string {
  let s = src;
  for (;;) {
    const t = s.replace(/^[ \t\r\n\f\v]+/, '');
    if (t.startsWith('//')) {
      // A line comment ends at a newline not preceded by a backslash continuation.
      const m = /(?<!\\)\n/.exec(t);
      s = m ? t.slice(m.index + 1) : '';
    } else if (t.startsWith('/*')) {
      const end = t.indexOf('*/', 2);
      if (end < 0) return '';
      s = t.slice(end + 2);
    } else return t;
  }
}

/**
 * The header of the first `#include <...>` if it is the first code in the file (only blank lines
 * and comments before it) and is in `allowlist`; otherwise null.
 */
export function pchHeaderFor(source: string, allowlist: readonly string[] = DEFAULT_PCH_HEADERS): string | null {
  const rest = skipTrivia(source);
  const m = /^#[ \t]*include[ \t]*<([^>\n]+)>[ \t]*(?:\/\/[^\n]*|\/\*.*?\*\/[ \t]*)?(?:\r?\n|$)/.exec(rest);
  if (!m) return null;
  const header = m[1]!.trim();
  return allowlist.includes(header) ? header : null;
}

/** Relative path of the PCH for a header inside a PCH dir: `iostream.gch`, `bits/stdc++.h.gch`. */
export function pchFileName(header: string): string {
  if (header.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`pch: invalid header name '${header}'`);
  }
  return `${header}.gch`;
}

export type PchBuildResult =
  | {
      ok: true;
      /** Absolute path of `<outDir>/<header>.gch`. */
      path: string;
      /** The files written, relative to outDir: `[<header>.gch, <header>]` (e.g. for ctx.artifact). */
      files: string[];
    }
  | { ok: false; stderr: string };

/** Text of the fallback header written next to a PCH (see buildPch). */
export function pchFallbackText(header: string): string {
  return `#include_next <${header}>\n`;
}

/**
 * Builds `outDir/<header>.gch` with exactly `[...tc.flags, ...flags]` (the flags of the compiles
 * that will use it), plus the fallback `outDir/<header>` containing `#include_next <header>`.
 *
 * Why the fallback: GCC only uses a PCH for the first include. When the same header is included
 * again (directly, or from inside another library header, e.g. <string> from <iostream>), GCC
 * finds `<dir>/<header>.gch`, cannot use it, then opens `<dir>/<header>` and fails with "No such
 * file or directory" instead of searching on. The fallback forwards to the real system header.
 *
 * The PCH is compiled from a one-line wrapper (`#include <header>`), not from the system header
 * itself: compiled as the main file, the header would lose its system-header status
 * ("#pragma system_header ignored outside include file"), which changes diagnostics.
 * Several headers may share one outDir. Files appear atomically (rename).
 */
export async function buildPch(
  tc: Toolchain,
  flags: string[],
  header: string,
  outDir: string,
  signal?: AbortSignal,
): Promise<PchBuildResult> {
  const rel = pchFileName(header);
  const dest = path.join(outDir, rel);
  const fallback = path.join(outDir, header);
  await mkdir(path.dirname(dest), { recursive: true });
  const work = await mkdtemp(path.join(outDir, '.pch-build-'));
  try {
    const wrapper = path.join(work, 'wrapper.h');
    await writeFile(wrapper, `#include <${header}>\n`);
    const tmp = path.join(work, 'out.gch');
    const r = await runTool(tc, [tc.cxx, ...tc.flags, ...flags, '-x', 'c++-header', wrapper, '-o', tmp], { signal });
    if (r.code !== 0) return { ok: false, stderr: r.stderr || `${tc.cxx} exited with ${r.code ?? r.signal}` };
    const fwd = path.join(work, 'fallback');
    await writeFile(fwd, pchFallbackText(header));
    await rename(fwd, fallback);
    await rename(tmp, dest);
    return { ok: true, path: dest, files: [rel, header] };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Lays out a usable PCH dir from a `.gch` stored elsewhere (e.g. a read-only blob path from
 * ctx.artifact, whose name is not `<header>.gch`): `dir/<header>.gch` becomes a symlink to
 * `gchPath` and the fallback header is written next to it. Returns `dir`, ready for
 * `compileToAsm({pchDir: dir})`.
 */
export async function preparePchDir(header: string, gchPath: string, dir: string): Promise<string> {
  const rel = pchFileName(header);
  const link = path.join(dir, rel);
  await mkdir(path.dirname(link), { recursive: true });
  await rm(link, { force: true });
  await symlink(path.resolve(gchPath), link);
  await writeFile(path.join(dir, header), pchFallbackText(header));
  return dir;
}
