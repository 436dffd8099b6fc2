/**
 * `files`: a collection of project files matched by globs, one item per file. The item's
 * key is its path below the glob's fixed folder, without extension (`sources/sort/bubble.cpp`
 * → `sort/bubble`). Sidecars are files next to it that belong to the item, such as the
 * human-written prompt `bubble.prompt.txt`.
 */
import { promises as fsp, statSync } from 'node:fs';
import * as path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import type { ScannedItem, SourceKind } from '../src/task-api.js';

const DEFAULT_MAX_BYTES = 1 << 20;

export const filesKind: SourceKind = {
  name: 'files',
  version: '1',
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
      optional: { type: 'boolean', description: 'A glob that matches no file is fine (no warning), e.g. a curation.yaml not written yet.' },
    },
  },
  outputs: () => [],
  async scan(ctx) {
    const p = ctx.params as { glob: string | string[]; exclude?: string[]; as?: string; sidecars?: Record<string, string>; maxBytes?: number; optional?: boolean };
    const globs = Array.isArray(p.glob) ? p.glob : [p.glob];
    const mainName = p.as ?? 'src';
    const maxBytes = p.maxBytes ?? DEFAULT_MAX_BYTES;
    const warnings: string[] = [];
    const items = new Map<string, ScannedItem>();
    const rootReal = await fsp.realpath(ctx.projectRoot);
    /** Per folder: where it really is, and whether that is inside the project. */
    const dirReal = new Map<string, { real: string; inside: boolean }>();
    const inside = (real: string) => !path.relative(rootReal, real).startsWith('..');
    for (const g of globs) {
      const matches = (await glob(g, { cwd: ctx.projectRoot, ignore: p.exclude ?? [], onlyFiles: true, followSymbolicLinks: true })).sort();
      if (matches.length === 0 && !p.optional) warnings.push(`glob "${g}" matches no file`);
      const scanned = picomatch.scan(g);
      // The folder part that has no glob characters: item keys are relative to it.
      const fixed = scanned.isGlob ? scanned.base : path.posix.dirname(g) === '.' ? '' : path.posix.dirname(g);
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
          const sst = statSync(path.join(ctx.projectRoot, side), { throwIfNoEntry: false });
          if (sst?.isFile() && sst.size <= maxBytes) paths[name] = side;
        }
        items.set(base, { base, status: 'ok', paths });
      }
    }
    const watch = [...globs, ...Object.values(p.sidecars ?? {}).map((s) => s.replace('{stem}', '**/*'))];
    return { items: [...items.values()], watch, warnings };
  },
};
