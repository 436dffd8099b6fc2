/**
 * `files`: a collection of project files matched by globs, one item per file. The item's
 * key is its path below the glob's fixed folder, without extension (`sources/sort/bubble.cpp`
 * → `sort/bubble`). Sidecars are files next to it that belong to the item, such as the
 * human-written prompt `bubble.prompt.txt`.
 *
 * Test cases (`cases`, on by default) are files too: `{stem}.stdin.txt` is one case (the file
 * `stdin` of the item), and every file of a folder `{stem}.inputs/` is one case, in name order,
 * named after the file (the item's files `cases/<file name>`). A program with a folder ignores its
 * `.stdin.txt` (with a warning). Cases enter the keys of the kinds that read them (validate, eval),
 * watch mode watches them and `--explain` names them (`inputs.source.files.cases/b.txt: …`).
 */
import { promises as fsp, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import type { ScannedItem, SourceKind } from '../src/task-api.js';
import { HEADER_GLOB, hasLocalInclude, inlineLocalHeaders } from './lib/local-headers.js';
import { RESERVED_FOLDERS } from '../src/folders.js';

/** A C or C++ source file: the files whose local headers are inlined. */
const CXX_SOURCE = /\.(c|cc|cp|cpp|cxx|c\+\+|C|ii)$/;
/** A glob that names C or C++ sources (`*.cpp`, `*.{cc,cpp}`): its headers are watched before any program exists. */
const CXX_GLOB = /\.(c|cc|cp|cpp|cxx|c\+\+|C|ii)$|\{[^}]*\b(c|cc|cpp|cxx)\b[^}]*\}$/;

const DEFAULT_MAX_BYTES = 1 << 20;

export const filesKind: SourceKind = {
  name: 'files',
  version: '2',
  mode: 'source',
  pool: 'none',
  description: 'Project files matched by globs; one item per file, with optional sidecar files.',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['glob'],
    properties: {
      glob: {
        description: 'Glob(s) relative to the project folder, e.g. sources/*.cpp.',
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
      },
      exclude: { type: 'array', items: { type: 'string' }, description: 'Globs to leave out.' },
      as: { type: 'string', description: 'Name of the main file in each item (default src).' },
      sidecars: {
        type: 'object',
        description: 'Extra files per item: name → pattern, where {stem} is the file path without extension.',
        additionalProperties: { type: 'string' },
      },
      maxBytes: { type: 'integer', minimum: 1, description: 'Larger files are rejected (default 1 MiB).' },
      cases: {
        description:
          'Test cases beside each file (default true: {stem}.stdin.txt, one case, or the files of {stem}.inputs/, one case each). ' +
          'false: none; or {file, dir} patterns with {stem}.',
        oneOf: [
          { type: 'boolean' },
          {
            type: 'object',
            additionalProperties: false,
            properties: { file: { type: 'string', minLength: 1 }, dir: { type: 'string', minLength: 1 } },
          },
        ],
      },
      localHeaders: {
        type: 'boolean',
        description: 'Inline the headers a program includes with #include "…" (from its folder), once each, in order: the item\'s main file is then that self-contained text (default true).',
      },
      optional: { type: 'boolean', description: 'A glob that matches no file is fine (no warning), e.g. a curation.yaml not written yet.' },
    },
  },
  outputs: () => [],
  async scan(ctx) {
    const p = ctx.params as {
      glob: string | string[]; exclude?: string[]; as?: string; sidecars?: Record<string, string>; maxBytes?: number;
      cases?: boolean | { file?: string; dir?: string }; localHeaders?: boolean; optional?: boolean;
    };
    const cases = casePatterns(p.cases);
    const globs = Array.isArray(p.glob) ? p.glob : [p.glob];
    const mainName = p.as ?? 'src';
    const maxBytes = p.maxBytes ?? DEFAULT_MAX_BYTES;
    const warnings: string[] = [];
    const items = new Map<string, ScannedItem>();
    const headerRoots = new Set<string>();
    const watchHeaders: string[] = [];
    const rootReal = await fsp.realpath(ctx.projectRoot);
    /** Per folder: where it really is, and whether that is inside the project. */
    const dirReal = new Map<string, { real: string; inside: boolean }>();
    const listing = new FolderListing(ctx.projectRoot);
    const inside = (real: string) => !path.relative(rootReal, real).startsWith('..');
    for (const g of globs) {
      const matches = (await glob(g, { cwd: ctx.projectRoot, ignore: p.exclude ?? [], onlyFiles: true, followSymbolicLinks: true })).sort();
      if (matches.length === 0 && !p.optional) warnings.push(`glob "${g}" matches no file`);
      const scanned = picomatch.scan(g);
      // The folder part that has no glob characters: item keys are relative to it.
      const fixed = scanned.isGlob ? scanned.base : path.posix.dirname(g) === '.' ? '' : path.posix.dirname(g);
      // Local headers belong to C and C++ sources only: a glob of other files (curation.yaml)
      // would otherwise search its whole folder tree for headers on every scan.
      if (p.localHeaders !== false && (CXX_GLOB.test(g) || matches.some((m) => CXX_SOURCE.test(m)))) headerRoots.add(fixed);
      for (const rel of matches) {
        const relFromFixed = !fixed ? rel : rel.startsWith(`${fixed}/`) ? rel.slice(fixed.length + 1) : path.posix.relative(fixed, rel);
        const base = relFromFixed.replace(/\.[^./]+$/, '');
        if (items.has(base)) {
          warnings.push(`${rel}: another file already has the item key "${base}"; skipped`);
          continue;
        }
        const stem = rel.replace(/\.[^./]+$/, '');
        // Synchronous stats: thousands of them are much faster than async ones queued on libuv's pool.
        const lst = ctx.lstat(rel);
        if (!lst) {
          warnings.push(`${rel} vanished during the scan; skipped`);
          continue;
        }
        // Where the file really is: through its own link, or a linked folder above it (resolved
        // once per folder).
        const abs = path.join(ctx.projectRoot, rel);
        let real: string | undefined;
        let isInside: boolean;
        if (lst.isSymbolicLink()) {
          real = await fsp.realpath(abs).catch(() => undefined);
          isInside = !!real && inside(real);
        } else {
          const dir = path.posix.dirname(rel);
          let d = dirReal.get(dir);
          if (!d) {
            const r = await fsp.realpath(path.join(ctx.projectRoot, dir));
            dirReal.set(dir, (d = { real: r, inside: inside(r) }));
          }
          real = path.join(d.real, path.posix.basename(rel));
          isInside = d.inside;
        }
        if (!real) {
          warnings.push(`${rel} is a broken link; skipped`);
          continue;
        }
        if (!isInside) {
          items.set(base, { base, status: 'rejected', reason: 'outside-project', message: `${rel} links to ${real}, outside the project`, paths: {} });
          continue;
        }
        const st = lst.isSymbolicLink() ? statSync(abs, { throwIfNoEntry: false }) : lst;
        if (!st) {
          warnings.push(`${rel} vanished during the scan; skipped`);
          continue;
        }
        if (st.size > maxBytes) {
          items.set(base, { base, status: 'rejected', reason: 'too-large', message: `${rel} is ${st.size} bytes; the limit (maxBytes) is ${maxBytes}`, paths: {} });
          continue;
        }
        const paths: Record<string, string> = { [mainName]: rel };
        for (const [name, pattern] of Object.entries(p.sidecars ?? {})) {
          const side = pattern.replace('{stem}', stem);
          const sst = listing.has(side) ? statSync(path.join(ctx.projectRoot, side), { throwIfNoEntry: false }) : undefined;
          if (sst?.isFile() && sst.size <= maxBytes) paths[name] = side;
        }
        await addCases(ctx.projectRoot, stem, cases, maxBytes, paths, warnings, listing);
        items.set(base, { base, status: 'ok', paths });
      }
    }
    // Programs are read for their local includes only where a header exists at all (below a
    // glob's folder, or in the folder above it): a corpus without headers costs no reads.
    if (headerRoots.size) {
      const pats = [...headerRoots].flatMap((r) => [r ? `${r}/${HEADER_GLOB}` : HEADER_GLOB, ...(r ? [`${path.posix.dirname(r) === '.' ? '' : `${path.posix.dirname(r)}/`}*.{h,hh,hpp,hxx}`] : [])]);
      // Watched even while none exists: a header written later changes the programs that include it.
      watchHeaders.push(...pats);
      // Never the store, git's or npm's folders (a root-level glob would crawl thousands of blobs).
      const headerFiles = await glob(pats, { cwd: ctx.projectRoot, onlyFiles: true, followSymbolicLinks: true, ignore: RESERVED_FOLDERS.map((f) => `${f}/**`) });
      if (headerFiles.length) {
        for (const it of items.values()) {
          const rel = it.paths[mainName];
          if (it.status !== 'ok' || !rel) continue;
          const text = await fsp.readFile(path.join(ctx.projectRoot, rel), 'utf8').catch(() => undefined);
          if (text === undefined || !hasLocalInclude(text)) continue;
          const r = await inlineLocalHeaders(ctx.projectRoot, rel, text);
          if (!r.headers.length) continue;
          delete it.paths[mainName];
          it.contents = { [mainName]: r.text };
        }
      }
    }
    // What watch mode watches: the globs (a folder stands for everything in it, as for tinyglobby),
    // each item's sidecars and cases beside them, and the headers a program may include.
    const positives = globs.filter((g) => g && (g[0] !== '!' || g[1] === '('));
    const beside = [...Object.values(p.sidecars ?? {}), ...(cases.file ? [cases.file] : []), ...(cases.dir ? [`${cases.dir}/*`] : [])];
    const watch = [
      ...positives,
      ...beside.flatMap((s) => positives.map((g) => s.replace('{stem}', stemGlob(g)))),
      ...watchHeaders,
    ];
    const watchIgnore = (p.exclude ?? []).filter((e) => e && (e[0] !== '!' || e[1] === '('));
    return { items: [...items.values()], watch, ...(watchIgnore.length ? { watchIgnore } : {}), warnings };
  },
};

/** `src/**\/*.cpp` → `src/**\/*`: the glob of the stems `{stem}` stands for. */
function stemGlob(glob: string): string {
  const g = glob.endsWith('/') ? glob.slice(0, -1) : glob;
  const slash = g.lastIndexOf('/');
  const last = g.slice(slash + 1).replace(/\.[^./]+$/, '');
  return g.slice(0, slash + 1) + (last || '*');
}

/** Where a program's test cases are: a single-case file and a folder of cases (patterns with {stem}). */
export const DEFAULT_CASES = { file: '{stem}.stdin.txt', dir: '{stem}.inputs' } as const;

function casePatterns(c: boolean | { file?: string; dir?: string } | undefined): { file?: string; dir?: string } {
  if (c === false) return {};
  if (c === undefined || c === true) return { ...DEFAULT_CASES };
  return c;
}

/**
 * Adds the item's test cases to `paths`: `cases/<name>` for each regular file of the folder (name
 * order; hidden files and sub-folders are skipped), else `stdin` for the single-case file.
 */
async function addCases(
  root: string, stem: string, c: { file?: string; dir?: string }, maxBytes: number, paths: Record<string, string>, warnings: string[],
  listing: FolderListing,
): Promise<void> {
  const single = c.file ? c.file.replace('{stem}', stem) : undefined;
  const singleSt = single && listing.has(single) ? statSync(path.join(root, single), { throwIfNoEntry: false }) : undefined;
  const dir = c.dir ? c.dir.replace('{stem}', stem) : undefined;
  const dirSt = dir && listing.has(dir) ? statSync(path.join(root, dir), { throwIfNoEntry: false }) : undefined;
  if (dir && dirSt?.isDirectory()) {
    const names = (await fsp.readdir(path.join(root, dir))).filter((n) => !n.startsWith('.')).sort();
    let n = 0;
    for (const name of names) {
      const rel = `${dir}/${name}`;
      const st = statSync(path.join(root, rel), { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      if (st.size > maxBytes) {
        warnings.push(`${rel} is ${st.size} bytes, over maxBytes (${maxBytes}); not used as a test case`);
        continue;
      }
      paths[`cases/${name}`] = rel;
      n++;
    }
    if (n === 0) warnings.push(`${dir}/ holds no test case file`);
    if (singleSt?.isFile()) warnings.push(`${single} is ignored: ${dir}/ holds the test cases of this program`);
    return;
  }
  if (single && singleSt?.isFile()) {
    if (singleSt.size > maxBytes) warnings.push(`${single} is ${singleSt.size} bytes, over maxBytes (${maxBytes}); not used as a test case`);
    else paths.stdin = single;
  }
}

/**
 * Which names exist, one folder listing per folder: a program's sidecars and test cases are
 * looked up here before they are stat'ed, so a corpus of 10,000 programs without cases costs a
 * few readdirs, not 20,000 failed stats.
 */
class FolderListing {
  private readonly names = new Map<string, Set<string>>();

  constructor(private readonly root: string) {}

  has(rel: string): boolean {
    const abs = path.join(this.root, rel);
    const dir = path.dirname(abs);
    let names = this.names.get(dir);
    if (!names) {
      try {
        names = new Set(readdirSync(dir));
      } catch {
        names = new Set();
      }
      this.names.set(dir, names);
    }
    return names.has(path.basename(abs));
  }
}
