/**
 * A pipeline text that passed every check is remembered in cache/pipeline/, so later runs skip
 * the YAML parser and the schema validator. The cache must never hide an error, never be trusted
 * when damaged, and a dry run must not write it.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, runCli, summaryOf } from './support/cli.js';

const PIPELINE = `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  upper:
    kind: command
    from: texts
    params: { run: tr a-z A-Z < "$IN" > "$OUT", outputs: { out: .txt } }
`;

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function memoFiles(dir: string): Promise<string[]> {
  return fsp.readdir(path.join(dir, 'cache', 'pipeline')).catch(() => []);
}

type Checked = { kinds: string[]; kindsHash: string; data: { targets: { upper: { params: { run: string } } } } };

/** The one remembered check of a project built once, and a way to put it back changed (with a valid checksum). */
async function rememberedCheck(dir: string): Promise<{ checked: Checked; rewrite: (c: Checked) => Promise<void> }> {
  const [name] = await memoFiles(dir);
  const file = path.join(dir, 'cache', 'pipeline', name!);
  const entry = JSON.parse(await fsp.readFile(file, 'utf8')) as { sum: string; checked: string };
  return {
    checked: JSON.parse(entry.checked) as Checked,
    rewrite: async (c) => {
      const text = JSON.stringify(c);
      await fsp.writeFile(file, JSON.stringify({ sum: createHash('sha256').update(text).digest('hex'), checked: text }));
    },
  };
}

describe('the remembered pipeline check', () => {
  it('a dry run writes none; a build writes one; the next build uses it and builds the same', async () => {
    const dir = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n' });
    dirs.push(dir);
    expect((await runCli(dir, ['--dry-run'])).code).toBe(0);
    expect(await memoFiles(dir)).toEqual([]);
    expect((await runCli(dir, [])).code).toBe(0);
    expect(await memoFiles(dir)).toHaveLength(1);
    const second = await runCli(dir, ['--json']);
    expect(summaryOf(second)).toMatchObject({ ok: true, upToDate: 1, executed: 0 });
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('ALPHA\n');
  });

  it('a later run takes the pipeline from the remembered check, not from parsing the text again', async () => {
    const dir = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n' });
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);
    // Swap the remembered command (with a valid checksum): a run that used the text would upper-case.
    const { checked, rewrite } = await rememberedCheck(dir);
    checked.data.targets.upper.params.run = 'cat "$IN" > "$OUT"';
    await rewrite(checked);
    expect(summaryOf(await runCli(dir, ['--json']))).toMatchObject({ ok: true, executed: 1 });
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('an edit that breaks the pipeline is reported with its location, as without the cache', async () => {
    const dir = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n' });
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE.replace('outputs:', 'outptus:'));
    const r = await runCli(dir, []);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pipeline\.yaml:7:\d+: .*unknown key "outptus"/);
    // Restoring the text finds the remembered check again.
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE);
    expect((await runCli(dir, [])).code).toBe(0);
    expect(await memoFiles(dir)).toHaveLength(1);
  });

  it('the entry names the kinds the text uses; kinds that changed since make the text checked afresh', async () => {
    const dir = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n' });
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);
    const { checked, rewrite } = await rememberedCheck(dir);
    expect(checked.kinds).toEqual(['command', 'files']);
    // As if a kind's schema or version had changed since (another hash): the swapped command
    // must not be used, the text is checked and built as it reads.
    checked.data.targets.upper.params.run = 'cat "$IN" > "$OUT"';
    checked.kindsHash = '0'.repeat(64);
    await rewrite(checked);
    expect(summaryOf(await runCli(dir, ['--json', '--force']))).toMatchObject({ ok: true, executed: 1 });
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('ALPHA\n');
  });

  it('kinds are named by the parsed YAML, however the text spells them', async () => {
    // A tag and a quoted key: no pattern over the text would find "command" here.
    const text = PIPELINE.replace('    kind: command', '    "kind": !!str command');
    const dir = await makeProject({ 'pipeline.yaml': text, 'src/a.txt': 'alpha\n' });
    dirs.push(dir);
    expect(summaryOf(await runCli(dir, ['--json']))).toMatchObject({ ok: true, executed: 1 });
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('ALPHA\n');
    // An unknown kind is still a located error with a suggestion.
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE.replace('kind: command', 'kind: comand'));
    const r = await runCli(dir, []);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pipeline\.yaml:5:11: targets\.upper\.kind: unknown task kind "comand" \(did you mean "command"\?\)/);
  });

  it('a damaged or forged entry is not trusted: the text is checked afresh', async () => {
    const dir = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n' });
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);
    const [name] = await memoFiles(dir);
    const file = path.join(dir, 'cache', 'pipeline', name!);
    // A forged entry that would drop every target, without a matching checksum.
    const forged = JSON.stringify({ data: { version: 1, targets: {} }, locs: {} });
    await fsp.writeFile(file, JSON.stringify({ sum: 'not-the-sum', checked: forged }));
    const r = await runCli(dir, ['--json', '--force']);
    expect(summaryOf(r)).toMatchObject({ ok: true, executed: 1, total: 1 });
    await fsp.writeFile(file, '{ not json');
    expect(summaryOf(await runCli(dir, ['--json']))).toMatchObject({ ok: true, upToDate: 1 });
    // The rebuilt entry is whole again.
    expect(JSON.parse(await fsp.readFile(file, 'utf8')).sum).toMatch(/^[0-9a-f]{64}$/);
  });
});
