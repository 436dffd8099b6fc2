/**
 * The page's two kinds of edit, written as project files (never kept by the server): an exclusion
 * with a note in curation.yaml, and a prompt in the program's prompt sidecar. Watch mode sees the
 * file change and rebuilds; the page learns the result from the event stream like any other change.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Pipeline } from '../pipeline/model.js';
import { isInside } from '../fsutil.js';
import { withExclusion } from '../curation.js';

export class EditError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

/** Temp file beside the target + rename (not in cache/tmp, which a starting build clears). */
async function writeBeside(file: string, data: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(tmp, data);
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** The curation file the dataset reads: the `files` target joined to it as `with.curation`. */
export function curationFileOf(p: Pipeline, datasetTarget: string | undefined): string {
  const ds = datasetTarget ? p.targets.get(datasetTarget) : undefined;
  const def = ds?.with.curation ? p.targets.get(ds.with.curation) : undefined;
  if (!def) {
    throw new EditError(`the dataset target${ds ? ` "${ds.name}"` : ''} has no \`with: {curation: <files target>}\` input in ${path.basename(p.file)}, so an exclusion would not reach the dataset; add a target \`curation: {kind: files, params: {glob: curation.yaml}}\` and \`curation: curation\` to the dataset's \`with\``, 409);
  }
  const glob = def.params.glob;
  const file = Array.isArray(glob) ? glob[0] : glob;
  if (typeof file !== 'string' || /[*?[\]{}]/.test(file)) throw new EditError(`targets.${def.name}.params.glob must name one file (e.g. curation.yaml) for the page to write it`, 409);
  return file;
}

let chain: Promise<unknown> = Promise.resolve();
/** Edits run one at a time: two quick clicks never lose one of the writes. */
function serial<T>(fn: () => Promise<T>): Promise<T> {
  const next = chain.then(fn, fn);
  chain = next.catch(() => {});
  return next;
}

export function setExclusion(p: Pipeline, datasetTarget: string | undefined, key: string, note: string | undefined): Promise<string> {
  return serial(async () => {
    const rel = curationFileOf(p, datasetTarget);
    const abs = path.resolve(p.root, rel);
    if (!isInside(p.root, abs)) throw new EditError(`${rel} is outside the project`);
    const before = await fsp.readFile(abs, 'utf8').catch(() => '');
    await writeBeside(abs, withExclusion(before, key, note));
    return rel;
  });
}

export function setPrompt(p: Pipeline, rel: string | undefined, text: string): Promise<string> {
  return serial(async () => {
    if (!rel) throw new EditError('this program has no prompt sidecar pattern (params.sidecars.prompt in the files target)', 409);
    const abs = path.resolve(p.root, rel);
    if (!isInside(p.root, abs)) throw new EditError(`${rel} is outside the project`);
    await writeBeside(abs, text.endsWith('\n') ? text : `${text}\n`);
    return rel;
  });
}
