/**
 * What watch mode watches: derived from the pipeline, the requested targets and what each source
 * target's last scan said it reads (`ScanResult.watch`, reported by the build as a
 * `source-scanned` event). A path matters when a source target in the targets' dependency closure
 * declared it, or it is the pipeline file, or a file the pipeline's checks read (toolchain
 * definitions). Nothing else triggers a cycle. A source target not scanned yet (before the first
 * build, or a target a reload added or changed) makes the whole project watched until it is.
 *
 * chokidar ≥ 4 has no globs: we watch the project folder and prune with `couldContain`.
 */
import * as path from 'node:path';
import picomatch from 'picomatch';
import { RESERVED_FOLDERS } from '../folders.js';
import { FILE_REF_GLOBS } from '../pipeline/file-refs.js';
import type { Pipeline, TargetDef } from '../pipeline/model.js';
import { directDeps } from '../pipeline/model.js';

type Matcher = (p: string) => boolean;

/** tinyglobby's match options for the options the `files` kind passes. */
const MATCH_OPTS = { dot: false, nobrace: false, nocase: false, noextglob: false, noglobstar: false, posix: true } as const;

const never: Matcher = () => false;

/** What a source target's scan said it reads (its `ScanResult.watch` and `watchIgnore`). */
export interface SourceWatch {
  watch: string[];
  watchIgnore?: string[];
}

interface SourceGroup {
  target: string;
  /** Declared pattern, its fixed folder (the item key is relative to it), and its matcher. */
  globs: { glob: string; fixed: string; match: Matcher }[];
  partial: Matcher;
  ignore: Matcher;
}

export interface WatchSpec {
  root: string;
  /** Stable description; equal keys mean the same set of watched files. */
  key: string;
  /** Human-readable list of what is watched. */
  patterns: string[];
  /** Absolute folders to hand to chokidar. */
  roots: string[];
  /** Project-relative path (posix) of the pipeline file. */
  pipelineRel: string;
  /** Does a change to this project-relative file matter? */
  matchFile(rel: string): boolean;
  /** Could this project-relative folder hold a file that matters? (prunes the watch) */
  couldContain(rel: string): boolean;
  /** Item key of a source file, for labels: `sort/bubble` for `sources/sort/bubble.cpp`. */
  itemOf(rel: string): string | undefined;
  warnings: string[];
}

/** The requested targets (or the default ones) plus everything they depend on. */
export function closureOf(p: Pipeline, requested: string[]): TargetDef[] {
  const out: TargetDef[] = [];
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    const t = p.targets.get(n);
    if (!t) return;
    for (const d of directDeps(t)) visit(d);
    out.push(t);
  };
  for (const r of requested.length ? requested : p.defaultTargets) visit(r);
  return out;
}

/** tinyglobby's pattern normalization (expandDirectories: a pattern not ending in `*` also means everything below it). */
export function normalizeGlob(pattern: string, root: string): string {
  let r = pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
  if (!r.endsWith('*')) r += '/**';
  return path.isAbsolute(r) ? path.posix.relative(root.split(path.sep).join('/'), r) : path.posix.normalize(r);
}

function splitPattern(p: string): string[] {
  const parts = picomatch.scan(p, { parts: true }).parts;
  return parts?.length ? parts : [p];
}

/** Like tinyglobby's partial matcher: can a folder at `rel` lead to a match of one of the patterns? */
export function partialMatcher(patterns: string[]): Matcher {
  const compiled = patterns.map((p) => {
    const parts = splitPattern(p);
    return { parts, matchers: parts.map((part) => picomatch(part, MATCH_OPTS)) };
  });
  return (rel) => {
    if (rel === '' || rel === '.') return true;
    const input = rel.split('/');
    if (input.every((s) => s === '..')) return true;
    for (const { parts, matchers } of compiled) {
      const n = Math.min(input.length, parts.length);
      let j = 0;
      let hit = false;
      while (j < n) {
        if (parts[j].includes('/')) {
          hit = true;
          break;
        }
        if (!matchers[j](input[j])) break;
        if (parts[j] === '**') {
          hit = true;
          break;
        }
        j++;
      }
      if (hit || j === input.length) return true;
    }
    return false;
  };
}

function anyOf(patterns: string[]): Matcher {
  return patterns.length ? picomatch(patterns, MATCH_OPTS) : never;
}

function sourceGroup(target: string, w: SourceWatch, root: string): SourceGroup {
  const globs: SourceGroup['globs'] = [];
  const positives: string[] = [];
  for (const g of w.watch) {
    if (!g) continue;
    const norm = normalizeGlob(g, root);
    positives.push(norm);
    globs.push({ glob: g, fixed: picomatch.scan(g).base, match: picomatch(norm, MATCH_OPTS) });
  }
  return {
    target,
    globs,
    partial: partialMatcher(positives),
    ignore: anyOf((w.watchIgnore ?? []).filter(Boolean).map((e) => normalizeGlob(e, root))),
  };
}

/** The same target, or one whose scan may read other files now (its kind or params changed). */
export function sameSource(a: TargetDef, b: TargetDef): boolean {
  return a.kindName === b.kindName && JSON.stringify(a.params) === JSON.stringify(b.params);
}

export function deriveSpec(p: Pipeline, requested: string[], scans: ReadonlyMap<string, SourceWatch>): WatchSpec {
  const root = p.root;
  const toPosix = (s: string) => s.split(path.sep).join('/');
  const pipelineRel = toPosix(path.relative(root, p.file));
  const fixedPatterns = [pipelineRel, ...FILE_REF_GLOBS];
  const fixed = anyOf(fixedPatterns);
  const warnings: string[] = [];
  const groups: SourceGroup[] = [];
  const described: string[] = [];
  const keyParts: unknown[] = [];
  let everything = false;
  for (const t of closureOf(p, requested)) {
    if (t.mode !== 'source') continue;
    const w = scans.get(t.name);
    if (!w) {
      everything = true;
      continue;
    }
    groups.push(sourceGroup(t.name, w, root));
    keyParts.push([t.name, w.watch, w.watchIgnore ?? null]);
    described.push(...w.watch);
  }
  // The engine writes these; a glob reaching into them would make the build trigger itself.
  const generated: string[] = ['cache/**', `${p.settings.buildDir}/**`];
  for (const t of p.targets.values()) {
    if (!t.outDir || t.outDir === '.') continue;
    if (t.mode === 'map') generated.push(`${t.outDir}/**`);
    else for (const o of t.kind.outputs(t.params)) generated.push(path.posix.join(t.outDir, o.file ?? o.name));
  }
  const isGenerated = anyOf(generated);
  // Watching everything (a source not scanned yet): every file but hidden ones and asmgraph's own folders.
  const anyFile = (rel: string) => !rel.split('/').some((s, i) => (s.startsWith('.') && s !== '..') || (i === 0 && RESERVED_FOLDERS.includes(s)));
  const fixedPartial = partialMatcher(fixedPatterns);
  const ancestorsIgnored = (g: SourceGroup, rel: string) => {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) if (g.ignore(rel.slice(0, i))) return true;
    return false;
  };

  const matchFile = (rel: string): boolean => {
    if (fixed(rel)) return true;
    if (isGenerated(rel)) return false;
    if (everything) return anyFile(rel);
    for (const g of groups) {
      if (g.ignore(rel) || ancestorsIgnored(g, rel)) continue;
      if (g.globs.some((x) => x.match(rel))) return true;
    }
    return false;
  };
  const couldContain = (rel: string): boolean => {
    if (rel === '' || rel === '.') return true;
    if (isGenerated(`${rel}/x`)) return false;
    if (fixedPartial(rel)) return true;
    if (everything) return anyFile(rel);
    return groups.some((g) => g.partial(rel) && !g.ignore(rel) && !ancestorsIgnored(g, rel));
  };
  const itemOf = (rel: string): string | undefined => {
    for (const g of groups) {
      for (const x of g.globs) {
        if (!x.match(rel)) continue;
        const fromFixed = x.fixed ? path.posix.relative(x.fixed, rel) : rel;
        return fromFixed.replace(/\.[^./]+$/, '');
      }
    }
    return undefined;
  };
  // Patterns reaching above the project (`../shared/*.cpp`) need their own watch roots.
  const roots = new Set<string>([root]);
  for (const g of groups) {
    for (const x of g.globs) {
      const base = picomatch.scan(normalizeGlob(x.glob, root)).base;
      if (base.startsWith('..')) roots.add(path.resolve(root, base));
    }
  }
  const patterns = everything ? ['**/*', ...fixedPatterns] : [...new Set([...described, ...fixedPatterns])];
  return {
    root,
    key: JSON.stringify({ fixedPatterns, keyParts, generated, everything, roots: [...roots] }),
    patterns,
    roots: [...roots],
    pipelineRel,
    matchFile,
    couldContain,
    itemOf,
    warnings,
  };
}
