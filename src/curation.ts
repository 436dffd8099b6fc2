/**
 * `curation.yaml`: a curator's decisions about single programs, kept as data in the project.
 * The dataset target reads it as a declared input (a `files` target), so the graph, the cache,
 * `--explain` and a plain CLI build see the same decisions as the web view that writes them.
 *
 *   exclude:
 *     add_8_and_120: { note: "trivial; the seed has three like it" }
 *
 * Keys are item keys without variant dimensions (the `base`, e.g. `bubble_sort`).
 *
 * The file's format is shared: the `dataset` kind reads it, `asmgraph serve` writes it.
 */
import { createRequire } from 'node:module';
import type { parseDocument as ParseDocument } from 'yaml';

// The YAML parser costs start-up time; a no-op build that names this module never parses.
const require = createRequire(import.meta.url);
const yaml = (): typeof import('yaml') => require('yaml') as typeof import('yaml');

export interface Curation {
  /** base → the note given when it was excluded ('' when none). */
  exclude: Map<string, string>;
}

export class CurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CurationError';
  }
}

/** Parses curation.yaml; `file` names it in located errors (`curation.yaml:3:5: …`). */
export function parseCuration(text: string, file = 'curation.yaml'): Curation {
  const lc = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (pos: number | undefined) => {
    const p = lc.linePos(pos ?? 0);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new CurationError(`${at(e.pos[0])}: ${e.message.split('\n')[0]}`);
  }
  const exclude = new Map<string, string>();
  const root = doc.toJS() as unknown;
  if (root === null || root === undefined) return { exclude };
  if (typeof root !== 'object' || Array.isArray(root)) throw new CurationError(`${at(0)}: expected a mapping with an "exclude" key`);
  for (const k of Object.keys(root)) {
    if (k !== 'exclude') throw new CurationError(`${at(findKey(doc, [k]))}: unknown key "${k}" (expected "exclude")`);
  }
  const ex = (root as Record<string, unknown>).exclude;
  if (ex === null || ex === undefined) return { exclude };
  if (typeof ex !== 'object' || Array.isArray(ex)) throw new CurationError(`${at(findKey(doc, ['exclude']))}: exclude: expected a mapping of program → { note }`);
  for (const [base, v] of Object.entries(ex as Record<string, unknown>)) {
    if (v === null || v === undefined) exclude.set(base, '');
    else if (typeof v === 'string') exclude.set(base, v);
    else if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).every((x) => x === 'note')) {
      const note = (v as { note?: unknown }).note;
      exclude.set(base, note === undefined || note === null ? '' : String(note));
    } else throw new CurationError(`${at(findKey(doc, ['exclude', base]))}: exclude.${base}: expected { note: "…" }`);
  }
  return { exclude };
}

function findKey(doc: ReturnType<typeof ParseDocument>, p: string[]): number | undefined {
  const parent = p.length > 1 ? doc.getIn(p.slice(0, -1), true) : doc.contents;
  const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
  return items?.find((it) => it.key?.value === p[p.length - 1])?.key?.range?.[0];
}

export const CURATION_HEADER = [
  '# Curation decisions for the dataset, written by `asmgraph serve` or by hand.',
  '# The dataset target reads this file as a declared input: a CLI build, the cache and --explain',
  '# see the same decisions as the web view.',
  '#   exclude: { <program>: { note: "why" } }',
].join('\n');

/** curation.yaml's text with `base` excluded (note) or included again (note undefined); keeps comments. */
export function withExclusion(text: string, base: string, note: string | undefined): string {
  const doc = yaml().parseDocument(text.trim() ? text : `${CURATION_HEADER}\nexclude: {}\n`);
  if (doc.errors.length) throw new CurationError(`curation.yaml: ${doc.errors[0].message.split('\n')[0]}; fix it by hand first`);
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  if (note === undefined) {
    doc.deleteIn(['exclude', base]);
  } else {
    if (!doc.hasIn(['exclude']) || doc.getIn(['exclude']) === null) doc.setIn(['exclude'], doc.createNode({}));
    doc.setIn(['exclude', base], doc.createNode({ note }));
  }
  const ex = doc.getIn(['exclude'], true) as { flow?: boolean; items?: unknown[] } | undefined;
  // Block style once it holds entries (readable diffs); `{}` when empty.
  if (ex && 'flow' in ex) ex.flow = !ex.items?.length;
  return doc.toString({ lineWidth: 0 });
}
