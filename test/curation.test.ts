/** curation.yaml: parsing with located errors, rewriting that keeps comments, and source-line alignment. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCuration, withExclusion } from '../src/curation.js';
import { alignVerbose } from '../src/serve/program.js';
import { makeProject, REPO, runCli, toolchainFiles } from './support/cli.js';

describe('curation.yaml', () => {
  it('reads exclusions with or without a note', () => {
    const c = parseCuration('exclude:\n  a: { note: "too easy" }\n  b:\n  c: plain words\n');
    expect([...c.exclude]).toEqual([['a', 'too easy'], ['b', ''], ['c', 'plain words']]);
    expect(parseCuration('').exclude.size).toBe(0);
    expect(parseCuration('# only a comment\n').exclude.size).toBe(0);
  });

  it('names the file, line and column of a mistake', () => {
    expect(() => parseCuration('exclude:\n  a: [1\n')).toThrow(/^curation\.yaml:3:1: /);
    expect(() => parseCuration('exlude: {}\n')).toThrow('curation.yaml:1:1: unknown key "exlude" (expected "exclude")');
    expect(() => parseCuration('exclude:\n  a: { why: x }\n')).toThrow('curation.yaml:2:3: exclude.a: expected { note: "…" }');
    expect(() => parseCuration('exclude: [a, b]\n')).toThrow(/^curation\.yaml:1:1: exclude: expected a mapping/);
  });

  it('adds and removes an exclusion, keeping the comments', () => {
    const start = '# keep me\nexclude: {} # and me\n';
    const one = withExclusion(start, 'bubble_sort', 'seen it');
    expect(one).toContain('# keep me');
    expect([...parseCuration(one).exclude]).toEqual([['bubble_sort', 'seen it']]);
    const two = withExclusion(one, 'fizzbuzz', 'needs: a colon');
    expect([...parseCuration(two).exclude]).toEqual([['bubble_sort', 'seen it'], ['fizzbuzz', 'needs: a colon']]);
    const back = withExclusion(two, 'bubble_sort', undefined);
    expect([...parseCuration(back).exclude]).toEqual([['fizzbuzz', 'needs: a colon']]);
    expect(back).toContain('# keep me');
    // A file that does not exist yet gets the explanatory header.
    expect(withExclusion('', 'x', '')).toMatch(/^# Curation decisions/);
    expect(() => withExclusion('exclude: [\n', 'x', '')).toThrow(/fix it by hand first/);
  });
});

describe('source lines from -fverbose-asm', () => {
  it('matches kept instructions to the verbose ones in order; directives and labels get none', () => {
    const verbose = [
      '\t.text',
      'main:',
      '\tpushq\t%rbp\t#',
      '# prog.cpp:3:   int a = 8;',
      '\tmovl\t$8, -4(%rbp)\t#, a',
      '# prog.cpp:4:   return a;',
      '\tmovl\t-4(%rbp), %eax\t# a, _2',
      '\tpopq\t%rbp\t#',
      '\tret\t',
    ].join('\n');
    const kept = ['\t.text', 'main:', '\tpushq\t%rbp', '\tmovl\t$8, -4(%rbp)', '\tmovl\t-4(%rbp), %eax', '\tpopq\t%rbp', '\tret'].join('\n');
    expect(alignVerbose(kept, verbose)).toEqual([null, null, null, 3, 4, 4, 4]);
  });
});

describe('the dataset reads curation.yaml as a declared input', () => {
  it('a hand-written exclusion reaches train.jsonl in a plain CLI build, and --explain names the file', async () => {
    const files: Record<string, string> = { ...(await toolchainFiles()), 'pipeline.yaml': await fsp.readFile(path.join(REPO, 'pipeline.yaml'), 'utf8') };
    for (const n of ['add_8_and_120', 'countdown_printf']) {
      for (const ext of ['.cpp', '.prompt.txt']) files[`sources/${n}${ext}`] = await fsp.readFile(path.join(REPO, 'sources', `${n}${ext}`), 'utf8');
    }
    const dir = await makeProject(files); // no curation.yaml yet: optional, no warning
    try {
      const first = await runCli(dir, ['dataset']);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).not.toContain('matches no file');
      const all = async () => (await fsp.readFile(path.join(dir, 'build/train.jsonl'), 'utf8')) + (await fsp.readFile(path.join(dir, 'build/valid.jsonl'), 'utf8'));
      const prompt = (await fsp.readFile(path.join(dir, 'sources/countdown_printf.prompt.txt'), 'utf8')).trim();
      expect(await all()).toContain(JSON.stringify(prompt).slice(1, -1));
      await fsp.writeFile(path.join(dir, 'curation.yaml'), 'exclude:\n  countdown_printf: { note: "duplicate of the seed" }\n  no_such_program:\n');
      const second = await runCli(dir, ['--explain', 'dataset']);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toMatch(/executed dataset[\s\S]*why: curation\.yaml added/);
      expect(second.stderr).toContain('excluded curated: 1 (countdown_printf)');
      expect(second.stderr).toContain('curation.yaml names programs that are not in the collection: no_such_program');
      expect(await all()).not.toContain(JSON.stringify(prompt).slice(1, -1));
      const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
      expect(report.curated).toEqual({ countdown_printf: 'duplicate of the seed' });
      // Only the dataset ran: compile and validate do not read curation.yaml.
      const third = await runCli(dir, ['--json', 'dataset']);
      expect(third.events.find((e) => e.type === 'build-done')!.summary.executed).toBe(0);
      await fsp.writeFile(path.join(dir, 'curation.yaml'), 'exclude:\n  countdown_printf: [\n');
      const bad = await runCli(dir, ['dataset']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/dataset: curation\.yaml:3:1: /);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
