/**
 * Local headers: a program's `#include "x.hpp"` / `#include "../utils.h"` resolved against the
 * including file's folder (then the program's own folder, which is on the include path), and
 * inlined once each, in order, so the program is one self-contained text — the text that is
 * compiled, validated and shown in the example. A header included again (guards, #pragma once)
 * is not repeated; `#pragma once` lines go (they warn in a main file). An include that names no
 * file in the project stays as written (and fails to compile, naming the header).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export const HEADER_GLOB = '**/*.{h,hh,hpp,hxx,h++,inc,ipp,tpp}';
const INCLUDE = /^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"[^\n]*$/gm;

export interface Inlined {
  text: string;
  /** Project-relative paths of the headers inlined, in order. */
  headers: string[];
  /** Includes that name no file in the project (left as written). */
  missing: string[];
}

/** True if a program's text has a `#include "…"` at all (a cheap test before resolving). */
export function hasLocalInclude(text: string): boolean {
  INCLUDE.lastIndex = 0;
  return INCLUDE.test(text);
}

export async function inlineLocalHeaders(projectRoot: string, programRel: string, text: string): Promise<Inlined> {
  const done = new Set<string>();
  const headers: string[] = [];
  const missing: string[] = [];
  const programDir = path.posix.dirname(programRel);
  const inside = (rel: string) => rel !== '' && !rel.startsWith('../') && !path.isAbsolute(rel);
  const expand = async (fileRel: string, body: string, depth: number): Promise<string> => {
    if (depth > 64) return body;
    const parts: string[] = [];
    let last = 0;
    INCLUDE.lastIndex = 0;
    const matches = [...body.matchAll(INCLUDE)];
    for (const m of matches) {
      parts.push(body.slice(last, m.index));
      last = m.index! + m[0].length;
      const spec = m[1]!;
      const candidates = [path.posix.normalize(path.posix.join(path.posix.dirname(fileRel), spec)), path.posix.normalize(path.posix.join(programDir, spec))];
      let found: { rel: string; text: string } | undefined;
      for (const rel of candidates) {
        if (!inside(rel)) continue;
        const t = await fsp.readFile(path.join(projectRoot, rel), 'utf8').catch(() => undefined);
        if (t !== undefined) {
          found = { rel, text: t };
          break;
        }
      }
      if (!found) {
        missing.push(spec);
        parts.push(m[0]);
        continue;
      }
      if (done.has(found.rel)) {
        parts.push(`// #include "${spec}" (already inlined above)`);
        continue;
      }
      done.add(found.rel);
      headers.push(found.rel);
      const inner = await expand(found.rel, found.text.replace(/^[ \t]*#[ \t]*pragma[ \t]+once[^\n]*\n?/gm, ''), depth + 1);
      parts.push(`// #include "${spec}" (inlined)\n${inner.replace(/\n?$/, '')}\n// end of "${spec}"`);
    }
    parts.push(body.slice(last));
    return parts.join('');
  };
  const out = await expand(programRel, text, 0);
  return { text: out, headers, missing };
}
