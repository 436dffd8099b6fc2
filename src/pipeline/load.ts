/**
 * Reads pipeline.yaml, checks it against the schema and the semantic rules, and returns the
 * Pipeline model, or throws PipelineError with every problem located at file:line:col.
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import type * as AjvModule from 'ajv';
import type { ErrorObject } from 'ajv';
import { sha256 } from '../hash.js';
import { projectFolders, RESERVED_FOLDERS } from '../folders.js';
import { isInside, writeFileAtomic } from '../fsutil.js';
import type { JsonObject, TaskKind } from '../task-api.js';
import { type Diagnostic, PipelineError } from './diagnostics.js';
import type { Pipeline, Settings, TargetDef } from './model.js';
import { directDeps } from './model.js';
import { baseSchema } from './schema.js';
import { didYouMean } from './suggest.js';
import { fileRefChecker } from './file-refs.js';

// yaml and ajv (both CommonJS) cost ~60 ms of start-up together; a pipeline text checked before
// needs neither (see `loadPipeline`), so they are loaded on first use.
const require = createRequire(import.meta.url);
const yamlLib = (): typeof import('yaml') => require('yaml') as typeof import('yaml');
const ajvLib = (): typeof AjvModule => require('ajv') as typeof AjvModule;

/** Bumped when what the cached check of a pipeline text holds changes. */
const CHECKED_VERSION = 2;

/**
 * A pipeline text that passed every check before: its data and the positions the model keeps
 * (each target's line and column), so it loads without the YAML parser and the schema validator;
 * the kinds it names and a hash of what it was checked against of them (name, version, mode,
 * params schema), so a kind that changed since makes the text checked afresh.
 */
interface CheckedText {
  data: unknown;
  locs: Record<string, { line: number; col: number }>;
  kinds?: string[];
  kindsHash?: string;
}

/** A cached check that does not fit the text after all: check it from scratch. */
class StaleCheck extends Error {}

/** The kinds a pipeline is checked and built with. */
export interface KindRegistry {
  get(name: string): TaskKind | undefined;
  /** Every kind name there is (loaded or not), for "did you mean" and the list of known kinds. */
  names(): string[];
}

/**
 * Where the kinds come from: handed to the loader by the command line (the built-in ones are in
 * `tasks/registry.ts`). `load` is asked for exactly the kinds a parsed pipeline names.
 */
export interface KindSource {
  names(): readonly string[];
  load(names: Iterable<string>): Promise<KindRegistry>;
}

const GLOB_CHARS = /[*?[\]{}]/;

/**
 * Reads, parses and checks a pipeline file. A text that passed every check is remembered under
 * `cache/pipeline/` (keyed by the text and the base schema; the entry names the kinds the text
 * uses and a hash of their schemas), so the next run skips parsing YAML and validating the
 * schema, and loads the kinds the entry names; its semantic checks run again either way.
 * `remember: false` (a dry run) writes nothing.
 */
export async function loadPipeline(file: string, kinds: KindSource, cpuCount: number, opts: { remember?: boolean } = {}): Promise<Pipeline> {
  const abs = path.resolve(file);
  const shown = path.relative(process.cwd(), abs) || abs;
  let text: string;
  try {
    text = await fsp.readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PipelineError([
      { file: shown, line: 1, col: 1, path: '', severity: 'error', message: code === 'ENOENT' ? 'file not found' : `cannot read: ${code}` },
    ]);
  }
  const memo = path.join(projectFolders(path.dirname(abs)).pipelineChecks, `${checkKey(text)}.json`);
  if (existsSync(memo)) {
    try {
      // { sum, checked }: a damaged file (the checksum disagrees) is checked afresh, never trusted.
      const file = JSON.parse(readFileSync(memo, 'utf8')) as { sum?: string; checked?: string };
      if (typeof file.checked === 'string' && file.sum === sha256(file.checked)) {
        const cached = JSON.parse(file.checked) as CheckedText;
        if (Array.isArray(cached.kinds)) {
          const registry = await kinds.load(cached.kinds);
          if (cached.kindsHash === kindsHash(cached.kinds, registry)) {
            return parsePipeline(text, abs, shown, registry, cpuCount, { cached });
          }
        }
      }
    } catch (err) {
      if (!(err instanceof StaleCheck) && !(err instanceof SyntaxError)) throw err;
    }
  }
  // Parse once, load the kinds the targets name, then check with them.
  const yaml = yamlLib();
  const lineCounter = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const named = doc.errors.length ? [] : kindNamesOf(doc.toJS({ maxAliasCount: 100 }) as unknown);
  const registry = await kinds.load(named);
  const out: { checked?: CheckedText } = {};
  const p = parsePipeline(text, abs, shown, registry, cpuCount, { out, parsed: { doc, lineCounter } });
  if (opts.remember !== false && out.checked) {
    const checked = JSON.stringify({ ...out.checked, kinds: named, kindsHash: kindsHash(named, registry) });
    await writeFileAtomic(memo, JSON.stringify({ sum: sha256(checked), checked })).catch(() => {});
  }
  return p;
}

/** The text and the base schema it is checked against (the kinds' schemas are in the entry). */
function checkKey(text: string): string {
  return sha256(JSON.stringify([CHECKED_VERSION, text, baseSchema]));
}

/** The kind names a parsed pipeline's targets give (and `files`, which implicit glob inputs use), sorted. */
function kindNamesOf(data: unknown): string[] {
  const names = new Set<string>(['files']);
  const targets = (data as { targets?: unknown } | null)?.targets;
  if (targets && typeof targets === 'object' && !Array.isArray(targets)) {
    for (const t of Object.values(targets as Record<string, unknown>)) {
      const kind = (t as { kind?: unknown } | null)?.kind;
      if (typeof kind === 'string') names.add(kind);
    }
  }
  return [...names].sort();
}

/** What a check depends on of the named kinds: a kind missing, added or changed gives another hash. */
function kindsHash(names: string[], kinds: KindRegistry): string {
  return sha256(JSON.stringify(names.map((n) => {
    const k = kinds.get(n);
    return k ? [k.name, k.version, k.mode, k.mode === 'map' && k.perAll ? k.perAll.mode : null, k.paramsSchema] : [n, null];
  })));
}

/**
 * Parses and checks a pipeline text. With `cached` (a text that passed before) the YAML parse and
 * the schema validation are skipped; with `out`, a text that passes is described for the cache.
 */
export function parsePipeline(
  text: string, abs: string, shown: string, kinds: KindRegistry, cpuCount: number,
  memo: { cached?: CheckedText; out?: { checked?: CheckedText }; parsed?: { doc: Document; lineCounter: LineCounter } } = {},
): Pipeline {
  const diags: Diagnostic[] = [];
  const locs: CheckedText['locs'] = {};
  let data: unknown;
  let locateAt: (p: (string | number)[], key: boolean) => { line: number; col: number };
  let ajv: InstanceType<typeof AjvModule.Ajv> | undefined;
  const cached = memo.cached;
  if (cached) {
    data = cached.data;
    locateAt = (p, key) => {
      const pos = cached.locs[JSON.stringify([p, key])];
      if (!pos) throw new StaleCheck();
      return pos;
    };
  } else {
    const yaml = yamlLib();
    const lc = memo.parsed?.lineCounter ?? new yaml.LineCounter();
    const doc = memo.parsed?.doc ?? yaml.parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    locateAt = (p, key) => {
      const pos = locate(yaml, doc, lc, p, key);
      locs[JSON.stringify([p, key])] = pos;
      return pos;
    };
    for (const e of doc.errors) {
      const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
      diags.push({ file: shown, line: pos.line, col: pos.col, path: '', severity: 'error', message: e.message.split('\n')[0] });
    }
    if (diags.length) throw new PipelineError(diags);
    data = doc.toJS({ maxAliasCount: 100 }) as unknown;
    ajv = new (ajvLib().Ajv)({ allErrors: true, strict: false, verbose: true, validateSchema: false });
  }
  const at = (p: (string | number)[], message: string, opts: { key?: boolean; severity?: 'error' | 'warning' } = {}) => {
    // A text that passed before cannot fail now: if it does, the cache is wrong; check afresh.
    if (cached) throw new StaleCheck();
    const pos = locateAt(p, opts.key ?? false);
    diags.push({ file: shown, line: pos.line, col: pos.col, path: p.join('.'), message, severity: opts.severity ?? 'error' });
  };

  if (ajv) {
    const validateBase = ajv.compile(baseSchema);
    if (!validateBase(data)) {
      for (const d of schemaDiagnostics(validateBase.errors ?? [], [])) at(d.path, d.message, { key: d.key });
      throw new PipelineError(dedupe(diags));
    }
  }
  const raw = data as {
    default?: string | string[];
    settings?: { jobs?: number; llmConcurrency?: number; buildDir?: string; remoteCache?: string };
    targets: Record<string, {
      kind: string; from?: string | string[]; with?: Record<string, string>; params?: JsonObject;
      matrix?: Record<string, string[]>; out?: string; description?: string;
    }>;
  };
  const root = path.dirname(abs);
  const settings: Settings = {
    jobs: raw.settings?.jobs || cpuCount,
    llmConcurrency: raw.settings?.llmConcurrency ?? 4,
    buildDir: raw.settings?.buildDir ?? 'build',
  };
  if (raw.settings?.remoteCache) settings.remoteCache = raw.settings.remoteCache;
  checkOutPath(settings.buildDir, ['settings', 'buildDir'], root, at);

  const checkFileRefs = fileRefChecker(root);
  const compiled = new Map<string, AjvModule.ValidateFunction>();
  const targets = new Map<string, TargetDef>();
  /** Targets with their own errors: references to them are not reported again. */
  const invalid = new Set<string>();
  const implicit: [string, string, (string | number)[]][] = [];
  for (const [name, t] of Object.entries(raw.targets)) {
    const kind = kinds.get(t.kind);
    if (!kind) {
      invalid.add(name);
      at(['targets', name, 'kind'], `unknown task kind "${t.kind}"${didYouMean(t.kind, kinds.names())}; known kinds: ${kinds.names().join(', ')}`);
      continue;
    }
    const params = t.params ?? {};
    let validateParams = compiled.get(kind.name);
    if (ajv && !validateParams) compiled.set(kind.name, (validateParams = ajv.compile(kind.paramsSchema)));
    if (validateParams && !validateParams(params)) {
      invalid.add(name);
      for (const d of schemaDiagnostics(validateParams.errors ?? [], ['targets', name, 'params'])) at(d.path, d.message, { key: d.key });
      continue;
    }
    for (const problem of checkFileRefs(name, kind.paramsSchema, params, t.matrix)) at(problem.path, problem.message);
    let from = t.from === undefined ? [] : Array.isArray(t.from) ? t.from : [t.from];
    from = from.map((f, i) => {
      if (!GLOB_CHARS.test(f) && !f.includes('/')) return f;
      // A glob as input: an implicit `files` target.
      const implicitName = `${name}.from${from.length > 1 ? `.${i}` : ''}`;
      implicit.push([implicitName, f, ['targets', name, 'from']]);
      return implicitName;
    });
    let mode: 'map' | 'reduce' | 'source' = kind.mode;
    let effectiveKind: TaskKind = kind;
    if (kind.mode === 'map' && kind.perAll && (from.length === 0 || params.per === 'all')) {
      mode = 'reduce';
      effectiveKind = kind.perAll;
    }
    if (mode === 'map' && from.length !== 1) {
      at(['targets', name, from.length ? 'from' : 'kind'], `kind "${kind.name}" runs once per item and needs exactly one "from" target`);
      invalid.add(name);
      continue;
    }
    if (mode === 'source' && (from.length || t.with)) {
      at(['targets', name, t.from !== undefined ? 'from' : 'with'], `kind "${kind.name}" takes no inputs`);
      invalid.add(name);
      continue;
    }
    if (t.matrix) {
      if (mode !== 'map') at(['targets', name, 'matrix'], 'only per-item kinds take a matrix');
      const known = Object.keys((kind.paramsSchema.properties ?? {}) as object);
      for (const k of Object.keys(t.matrix)) {
        if (!known.includes(k)) at(['targets', name, 'matrix', k], `"${k}" is not a parameter of kind "${kind.name}"${didYouMean(k, known)}`, { key: true });
      }
    }
    const outDir = t.out ?? (mode === 'reduce' ? settings.buildDir : `${settings.buildDir}/${name}`);
    if (t.out !== undefined) checkOutPath(t.out, ['targets', name, 'out'], root, at);
    const pos = locateAt(['targets', name], true);
    targets.set(name, {
      name, kindName: kind.name, kind: effectiveKind, mode, from, with: t.with ?? {}, params,
      matrix: t.matrix, outDir: path.posix.normalize(outDir), description: t.description, loc: pos,
    });
  }
  const filesKind = kinds.get('files');
  for (const [implicitName, glob, p] of implicit) {
    if (!filesKind) break;
    const pos = locateAt(p, false);
    targets.set(implicitName, {
      name: implicitName, kindName: 'files', kind: filesKind, mode: 'source', from: [], with: {},
      params: { glob }, outDir: '', loc: pos,
    });
  }

  // References.
  const names = [...targets.keys()].filter((n) => !n.includes('.from'));
  for (const t of targets.values()) {
    t.from.forEach((f, i) => {
      if (!targets.has(f) && !invalid.has(f)) at(['targets', t.name, 'from', ...(Array.isArray(raw.targets[t.name]?.from) ? [i] : [])], `unknown target "${f}"${didYouMean(f, names)}`);
    });
    for (const [k, v] of Object.entries(t.with)) {
      if (!targets.has(v) && !invalid.has(v)) at(['targets', t.name, 'with', k], `unknown target "${v}"${didYouMean(v, names)}`);
    }
  }
  const defaults = raw.default === undefined ? [] : Array.isArray(raw.default) ? raw.default : [raw.default];
  defaults.forEach((d, i) => {
    if (!targets.has(d) && !invalid.has(d)) at(['default', ...(Array.isArray(raw.default) ? [i] : [])], `unknown target "${d}"${didYouMean(d, names)}`);
  });
  if (diags.length) throw new PipelineError(dedupe(diags));

  // Cycles.
  const cycle = findCycle(targets);
  if (cycle) {
    at(['targets', cycle[0]], `dependency cycle: ${cycle.join(' → ')}`, { key: true });
    throw new PipelineError(diags);
  }

  // Two targets writing one path.
  const outs: { target: string; path: string; dir: boolean }[] = [];
  for (const t of targets.values()) {
    if (t.mode === 'source') continue;
    if (t.mode === 'map') outs.push({ target: t.name, path: t.outDir, dir: true });
    else for (const o of t.kind.outputs(t.params)) outs.push({ target: t.name, path: path.posix.join(t.outDir, o.file ?? o.name), dir: false });
  }
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length; j++) {
      const a = outs[i];
      const b = outs[j];
      if (a.target === b.target) continue;
      const clash = a.path === b.path || (a.dir && isInside(a.path, b.path)) || (b.dir && isInside(b.path, a.path));
      if (clash) {
        at(['targets', b.target, raw.targets[b.target]?.out !== undefined ? 'out' : 'kind'],
          `writes ${b.path}, which target "${a.target}" also writes (${a.path}); give one of them another "out"`);
      }
    }
  }
  if (diags.length) throw new PipelineError(dedupe(diags));

  if (memo.out && !cached) memo.out.checked = { data, locs };
  return {
    file: abs, root, defaultTargets: defaults.length ? defaults : [...targets.keys()].filter((n) => !isDependedOn(n, targets)),
    settings, targets, warnings: [],
  };
}

function isDependedOn(name: string, targets: Map<string, TargetDef>): boolean {
  for (const t of targets.values()) if (directDeps(t).includes(name)) return true;
  return false;
}

function checkOutPath(
  p: string, at: (string | number)[], root: string,
  report: (p: (string | number)[], m: string) => void,
): void {
  if (path.isAbsolute(p)) return report(at, `"${p}" is an absolute path; outputs must stay inside the project (use a relative path)`);
  const abs = path.resolve(root, p);
  if (!isInside(root, abs) || abs === root) return report(at, `"${p}" is outside the project folder; outputs must stay inside it`);
  const first = path.relative(root, abs).split(path.sep)[0];
  if (RESERVED_FOLDERS.includes(first)) report(at, `"${p}" is inside ${first}/, which asmgraph does not write outputs into`);
}

function findCycle(targets: Map<string, TargetDef>): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 2) return undefined;
    if (state.get(n) === 1) return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 1);
    stack.push(n);
    for (const d of directDeps(targets.get(n)!)) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of targets.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

interface SchemaDiag {
  path: (string | number)[];
  message: string;
  key: boolean;
}

/** Turns ajv errors into one readable message per location. */
function schemaDiagnostics(errors: ErrorObject[], prefix: (string | number)[]): SchemaDiag[] {
  const out: SchemaDiag[] = [];
  const seen = new Set<string>();
  // Errors inside a oneOf branch are noise when the oneOf itself is reported.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword === 'if') continue;
    if (e.keyword !== 'oneOf' && oneOfPaths.has(e.instancePath) && e.schemaPath.includes('/oneOf/')) continue;
    const p = [...prefix, ...e.instancePath.split('/').slice(1).map(unescapePointer)];
    let message = e.message ?? 'invalid';
    let key = false;
    switch (e.keyword) {
      case 'additionalProperties': {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        const known = Object.keys(((e.parentSchema as JsonObject)?.properties ?? {}) as object);
        p.push(extra);
        key = true;
        message = `unknown key "${extra}"${didYouMean(extra, known)}${known.length ? `; expected one of: ${known.join(', ')}` : ''}`;
        break;
      }
      case 'required':
        message = `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
        break;
      case 'type':
        message = `expected ${(e.params as { type: string }).type}, got ${describe(e.data)}`;
        break;
      case 'enum':
        message = `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(e.data)}`;
        break;
      case 'const':
        message = `expected ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, got ${JSON.stringify(e.data)}`;
        break;
      case 'oneOf': {
        const branches = ((e.schema as JsonObject[]) ?? []).map((s) => (s.type === 'array' ? 'a list' : String(s.type ?? 'value')));
        message = `expected ${branches.join(' or ')}, got ${describe(e.data)}`;
        break;
      }
      case 'propertyNames':
        continue;
      case 'pattern':
        if (e.propertyName !== undefined) {
          p.push(e.propertyName);
          key = true;
          message = `invalid target name "${e.propertyName}": use letters, digits, _ . and -, starting with a letter or _`;
        } else message = `"${String(e.data)}" does not match ${(e.params as { pattern: string }).pattern}`;
        break;
    }
    const id = `${p.join('.')}|${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ path: p, message, key });
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

function dedupe(d: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return d.filter((x) => {
    const k = `${x.line}:${x.col}:${x.path}:${x.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** 1-based line and column of the node at `p` (or of its key), or of the deepest ancestor found. */
function locate(yaml: typeof import('yaml'), doc: Document, lc: LineCounter, p: (string | number)[], key: boolean): { line: number; col: number } {
  const { isMap, isSeq } = yaml;
  let node: unknown = doc.contents;
  let best: number = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    const last = i === p.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((it) => {
        const k = it.key as { value?: unknown } | null;
        return k && String(k.value) === String(seg);
      });
      if (!pair) break;
      const k = pair.key as YamlNode;
      const v = pair.value as YamlNode | null;
      if (last && (key || !v)) {
        best = k.range?.[0] ?? best;
        break;
      }
      best = v?.range?.[0] ?? k.range?.[0] ?? best;
      node = v;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) break;
      best = item.range?.[0] ?? best;
      node = item;
    } else break;
  }
  return lc.linePos(best);
}
