/**
 * What watch mode watches: derived from the pipeline and the requested targets. A path matters
 * when it is a source file of a `files` target in the targets' dependency closure (the same
 * matching as tinyglobby, which the `files` kind uses), one of its sidecars, the pipeline file,
 * or a toolchain definition. Nothing else triggers a cycle.
 *
 * chokidar ≥ 4 has no globs: we watch the project folder and prune with `couldContain`.
 */
import * as path from 'node:path';
import picomatch from 'picomatch';
import type { Pipeline, TargetDef } from '../pipeline/model.js';
import { directDeps } from '../pipeline/model.js';
import { DEFAULT_CASES } from '../../tasks/files.js';

type Matcher = (p: string) => boolean;

/** tinyglobby's match options for the options the `files` kind passes. */
const MATCH_OPTS = { dot: false, nobrace: false, nocase: false, noextglob: false, noglobstar: false, posix: true } as const;

const never: Matcher = () => false;

interface SourceGroup {
  target: string;
  /** Original glob, its fixed folder (the item key is relative to it), and its matchers. */
  globs: { glob: string; fixed: string; match: Matcher }[];
  partial: Matcher;
  ignore: Matcher;
  sidecars: Matcher;
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

/** `src/**\/*.cpp` → `src/**\/*`: the glob of the stems `{stem}` stands for. */
function stemGlob(glob: string): string {
  const g = glob.endsWith('/') ? glob.slice(0, -1) : glob;
  const slash = g.lastIndexOf('/');
  const last = g.slice(slash + 1).replace(/\.[^./]+$/, '');
  return g.slice(0, slash + 1) + (last || '*');
}

/**
 * The files beside each matched file that belong to its item: the sidecars, and for the `files`
 * kind its test cases (`{stem}.stdin.txt`, every file of `{stem}.inputs/`) unless `cases: false`.
 */
function sidecarPatterns(t: TargetDef): string[] {
  const params = t.params as { sidecars?: unknown; cases?: unknown };
  const out = params.sidecars && typeof params.sidecars === 'object' ? Object.values(params.sidecars as Record<string, unknown>).filter((s): s is string => typeof s === 'string') : [];
  if (t.kindName !== 'files' || params.cases === false) return out;
  const c = params.cases && typeof params.cases === 'object' ? (params.cases as { file?: unknown; dir?: unknown }) : DEFAULT_CASES;
  if (typeof c.file === 'string') out.push(c.file);
  if (typeof c.dir === 'string') out.push(`${c.dir}/*`);
  return out;
}

function sourceGroup(t: TargetDef, root: string): SourceGroup | undefined {
  const params = t.params as { glob?: unknown; exclude?: unknown; sidecars?: unknown };
  const globList = typeof params.glob === 'string' ? [params.glob] : Array.isArray(params.glob) ? params.glob.filter((g): g is string => typeof g === 'string') : undefined;
  if (!globList) return undefined;
  const exclude = Array.isArray(params.exclude) ? params.exclude.filter((g): g is string => typeof g === 'string') : [];
  const sidecars = sidecarPatterns(t);
  const ignorePatterns: string[] = [];
  for (const e of exclude) if (e && (e[0] !== '!' || e[1] === '(')) ignorePatterns.push(normalizeGlob(e, root));
  const globs: SourceGroup['globs'] = [];
  const positives: string[] = [];
  for (const g of globList) {
    if (!g) continue;
    // The files kind globs each pattern separately, with `exclude` as tinyglobby's `ignore`.
    if (g[0] === '!' && g[1] !== '(') continue;
    const norm = normalizeGlob(g, root);
    positives.push(norm);
    globs.push({ glob: g, fixed: picomatch.scan(g).base, match: picomatch(norm, MATCH_OPTS) });
  }
  const sidecarGlobs = sidecars.flatMap((s) => positives.length ? globList.filter((g) => g[0] !== '!').map((g) => s.replace('{stem}', stemGlob(g))) : []);
  return {
    target: t.name,
    globs,
    partial: partialMatcher([...positives, ...sidecarGlobs]),
    ignore: anyOf(ignorePatterns),
    sidecars: anyOf(sidecarGlobs),
  };
}

export function deriveSpec(p: Pipeline, requested: string[]): WatchSpec {
  const root = p.root;
  const toPosix = (s: string) => s.split(path.sep).join('/');
  const pipelineRel = toPosix(path.relative(root, p.file));
  const fixedPatterns = [pipelineRel, 'toolchain/*.yaml'];
  const fixed = anyOf(fixedPatterns);
  const warnings: string[] = [];
  const groups: SourceGroup[] = [];
  const described: string[] = [];
  const keyParts: unknown[] = [];
  let everything = false;
  for (const t of closureOf(p, requested)) {
    if (t.mode !== 'source') continue;
    const g = sourceGroup(t, root);
    if (!g) {
      warnings.push(`target "${t.name}" (kind ${t.kindName}) does not say which files it reads; watching every project file`);
      everything = true;
      continue;
    }
    groups.push(g);
    keyParts.push([t.name, t.params.glob, t.params.exclude ?? null, t.params.sidecars ?? null, t.params.cases ?? null]);
    const params = t.params as { glob?: string | string[]; exclude?: string[]; sidecars?: Record<string, string> };
    described.push(...(Array.isArray(params.glob) ? params.glob : [params.glob ?? '']));
    for (const s of sidecarPatterns(t)) for (const g2 of g.globs) described.push(s.replace('{stem}', stemGlob(g2.glob)));
  }
  // The engine writes these; a glob reaching into them would make the build trigger itself.
  const generated: string[] = ['cache/**', `${p.settings.buildDir}/**`];
  for (const t of p.targets.values()) {
    if (!t.outDir || t.outDir === '.') continue;
    if (t.mode === 'map') generated.push(`${t.outDir}/**`);
    else for (const o of t.kind.outputs(t.params)) generated.push(path.posix.join(t.outDir, o.file ?? o.name));
  }
  const isGenerated = anyOf(generated);
  const fixedPartial = partialMatcher(fixedPatterns);
  const ancestorsIgnored = (g: SourceGroup, rel: string) => {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) if (g.ignore(rel.slice(0, i))) return true;
    return false;
  };

  const matchFile = (rel: string): boolean => {
    if (fixed(rel)) return true;
    if (isGenerated(rel)) return false;
    if (everything) return !rel.split('/').some((s) => s.startsWith('.') && s !== '..');
    for (const g of groups) {
      if (g.ignore(rel) || ancestorsIgnored(g, rel)) continue;
      if (g.globs.some((x) => x.match(rel)) || g.sidecars(rel)) return true;
    }
    return false;
  };
  const couldContain = (rel: string): boolean => {
    if (rel === '' || rel === '.') return true;
    if (isGenerated(`${rel}/x`)) return false;
    if (fixedPartial(rel)) return true;
    if (everything) return !rel.split('/').some((s) => s.startsWith('.') && s !== '..');
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
