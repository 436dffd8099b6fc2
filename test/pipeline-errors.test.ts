/**
 * A bad pipeline.yaml is refused before anything runs, with file:line:column, the key path and
 * what was expected; the CLI exits 2 and writes nothing.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allKinds } from '../tasks/registry.js';

const kinds = await allKinds();
import { formatDiagnostic, PipelineError } from '../src/pipeline/diagnostics.js';
import { parsePipeline } from '../src/pipeline/load.js';
import { editorSchema } from '../src/pipeline/schema.js';
import { makeProject, REPO, runCli } from './support/cli.js';

function errorsOf(text: string): string[] {
  try {
    parsePipeline(text, '/project/pipeline.yaml', 'pipeline.yaml', kinds, 2);
  } catch (err) {
    if (err instanceof PipelineError) return err.diagnostics.map(formatDiagnostic);
    throw err;
  }
  return [];
}

const GOOD = `version: 1
targets:
  programs:
    kind: files
    params: { glob: "sources/*.cpp" }
  asm:
    kind: compile
    from: programs
`;

describe('located errors', () => {
  const cases: [string, string, RegExp][] = [
    ['unknown reference with a suggestion', GOOD.replace('from: programs', 'from: program'),
      /^pipeline\.yaml:8:11: targets\.asm\.from: unknown target "program" \(did you mean "programs"\?\)$/],
    ['unknown kind', GOOD.replace('kind: compile', 'kind: compiel'),
      /^pipeline\.yaml:7:11: targets\.asm\.kind: unknown task kind "compiel" \(did you mean "compile"\?\); known kinds: /],
    ['unknown target key', GOOD.replace('    from: programs', '    from: programs\n    form: x'),
      /^pipeline\.yaml:9:5: targets\.asm\.form: unknown key "form" \(did you mean "from"\?\)/],
    ['unknown top-level key', `${GOOD}tragets: {}\n`, /^pipeline\.yaml:9:1: tragets: unknown key "tragets" \(did you mean "targets"\?\)/],
    ['missing version', GOOD.replace('version: 1\n', ''), /^pipeline\.yaml:1:1: missing required key "version"$/],
    ['wrong version', GOOD.replace('version: 1', 'version: 2'), /^pipeline\.yaml:1:10: version: expected 1, got 2$/],
    ['missing kind', GOOD.replace('    kind: compile\n', ''), /^pipeline\.yaml:7:5: targets\.asm: missing required key "kind"$/],
    ['bad param type', GOOD.replace('params: { glob: "sources/*.cpp" }', 'params: { glob: 42 }'),
      /^pipeline\.yaml:5:21: targets\.programs\.params\.glob: expected string or a list, got number 42$/],
    ['unknown param', GOOD.replace('    from: programs', '    from: programs\n    params: { optimise: O2 }'),
      /^pipeline\.yaml:9:15: targets\.asm\.params\.optimise: unknown key "optimise"/],
    ['bad enum value', GOOD.replace('    from: programs', '    from: programs\n    params: { opt: O9 }'),
      /^pipeline\.yaml:9:20: targets\.asm\.params\.opt: expected one of "O0", "O1", "O2", "O3", "Os", "Og", got "O9"$/],
    ['missing required param', GOOD.replace('params: { glob: "sources/*.cpp" }', 'params: {}'),
      /^pipeline\.yaml:5:13: targets\.programs\.params: missing required key "glob"$/],
    ['malformed YAML', GOOD.replace('  asm:\n', '  asm:\n   - [\n'), /^pipeline\.yaml:\d+:\d+: /],
    ['duplicate key', `${GOOD}  asm:\n    kind: compile\n    from: programs\n`, /^pipeline\.yaml:9:3: Map keys must be unique/],
    ['tabs in YAML', GOOD.replace('  programs:', '\tprograms:'), /^pipeline\.yaml:3:1: /],
    ['not a mapping', '- a\n- b\n', /^pipeline\.yaml:1:1: expected object, got a list$/],
    ['empty file', '', /^pipeline\.yaml:1:1: expected object, got null$/],
    ['empty targets', 'version: 1\ntargets: {}\n', /^pipeline\.yaml:2:10: targets: must NOT have fewer than 1 properties$/],
    ['bad target name', GOOD.replace('  asm:', '  "a/b":'), /^pipeline\.yaml:6:3: targets\.a\/b: invalid target name "a\/b": use letters, digits, _ \. and -, starting with a letter or _$/],
    ['cycle', `version: 1
targets:
  a: { kind: command, from: c, params: { run: "true", outputs: { o: .txt } } }
  b: { kind: command, from: a, params: { run: "true", outputs: { o: .txt } } }
  c: { kind: command, from: b, params: { run: "true", outputs: { o: .txt } } }
`, /^pipeline\.yaml:3:3: targets\.a: dependency cycle: a → c → b → a$/],
    ['self reference', `version: 1
targets:
  a: { kind: command, from: a, params: { run: "true", outputs: { o: .txt } } }
`, /dependency cycle: a → a/],
    ['two targets writing one path', `${GOOD}  asm2:\n    kind: compile\n    from: programs\n    out: build/asm\n`,
      /^pipeline\.yaml:12:10: targets\.asm2\.out: writes build\/asm, which target "asm" also writes \(build\/asm\)/],
    ['an output folder inside another target\'s', `${GOOD}  asm2:\n    kind: compile\n    from: programs\n    out: build/asm/nested\n`,
      /targets\.asm2\.out: writes build\/asm\/nested, which target "asm" also writes/],
    ['output outside the project with ..', GOOD.replace('    from: programs', '    from: programs\n    out: ../elsewhere'),
      /^pipeline\.yaml:9:10: targets\.asm\.out: "\.\.\/elsewhere" is outside the project folder/],
    ['absolute output path', GOOD.replace('    from: programs', '    from: programs\n    out: /tmp/x'),
      /targets\.asm\.out: "\/tmp\/x" is an absolute path; outputs must stay inside the project/],
    ['output into cache/', GOOD.replace('    from: programs', '    from: programs\n    out: cache/x'),
      /targets\.asm\.out: "cache\/x" is inside cache\//],
    ['build dir outside', `${GOOD}settings: { buildDir: ../b }\n`, /settings\.buildDir: "\.\.\/b" is outside the project folder/],
    ['per-item kind without from', GOOD.replace('    from: programs\n', ''), /targets\.asm\.kind: kind "compile" runs once per item and needs exactly one "from" target/],
    ['source kind with inputs', GOOD.replace('    kind: files\n', '    kind: files\n    from: asm\n'), /targets\.programs\.from: kind "files" takes no inputs/],
    ['matrix over an unknown parameter', GOOD.replace('    from: programs', '    from: programs\n    matrix: { optlevel: [O0, O2] }'),
      /targets\.asm\.matrix\.optlevel: "optlevel" is not a parameter of kind "compile"/],
    ['unknown default target', GOOD.replace('version: 1', 'version: 1\ndefault: [asmm]'), /^pipeline\.yaml:2:11: default\.0: unknown target "asmm" \(did you mean "asm"\?\)$/],
    ['with: unknown target', GOOD.replace('    from: programs', '    from: programs\n    with: { source: progs }'), /targets\.asm\.with\.source: unknown target "progs"/],
    ['negative jobs', `${GOOD}settings: { jobs: -1 }\n`, /settings\.jobs: must be >= 0/],
    ['clean with an unknown filter', GOOD.replace('    from: programs', '    from: programs\n    params: { clean: { filters: [comments] } }'), /targets\.asm\.params\.clean/],
    ['command without outputs', `version: 1
targets:
  a: { kind: command, params: { run: "true" } }
`, /targets\.a\.params: missing required key "outputs"/],
    ['from is a number', GOOD.replace('from: programs', 'from: 3'), /targets\.asm\.from: expected string or a list, got number 3/],
  ];
  for (const [name, text, pattern] of cases) {
    it(name, () => {
      const errs = errorsOf(text);
      expect(errs.length, `no error for: ${name}`).toBeGreaterThan(0);
      expect(errs.some((e) => pattern.test(e)), errs.join('\n')).toBe(true);
    });
  }

  it('a valid pipeline has no errors, and downstream targets of a broken one are not reported again', () => {
    expect(errorsOf(GOOD)).toEqual([]);
    const errs = errorsOf(`${GOOD.replace('kind: compile', 'kind: nope')}  val:\n    kind: validate\n    from: asm\n`);
    expect(errs).toHaveLength(1);
  });
});

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

describe('the CLI on bad input', () => {
  it('exits 2 with the located message, runs and writes nothing, keeps earlier outputs', async () => {
    const good = `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  upper: { kind: command, from: texts, params: { run: 'tr a-z A-Z < "$IN" > "$OUT"', outputs: { out: .txt } } }
`;
    const dir = await makeProject({ 'pipeline.yaml': good, 'src/a.txt': 'a\n' });
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), good.replace('from: texts', 'from: text'));
    await fsp.writeFile(path.join(dir, 'src/a.txt'), 'changed\n');
    const r = await runCli(dir, []);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('pipeline.yaml:4:33: targets.upper.from: unknown target "text" (did you mean "texts"?)\n');
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('A\n');
  });

  it('a missing pipeline file, an unknown target and a bad option exit 2', async () => {
    const dir = await makeProject({ 'pipeline.yaml': GOOD });
    dirs.push(dir);
    const missing = await runCli(dir, ['-f', 'nope.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.yaml:1:1: file not found/);
    const unknown = await runCli(dir, ['asmm']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown target "asmm" \(did you mean "asm"\?\)/);
    const badOpt = await runCli(dir, ['--jobs', 'x']);
    expect(badOpt.code).toBe(2);
    const help = await runCli(dir, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: asmgraph/);
    const sub = await runCli(dir, ['cache', 'gc', '--help']);
    expect(sub.stdout).toMatch(/--max-size/);
  });

  it('a glob that matches nothing is a warning, not an error', async () => {
    const dir = await makeProject({ 'pipeline.yaml': GOOD });
    dirs.push(dir);
    const r = await runCli(dir, ['programs']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: pipeline\.yaml: targets\.programs: glob "sources\/\*\.cpp" matches no file/);
  });
});

describe('the committed JSON Schema', () => {
  it('matches what the kinds declare (regenerate with: node dist/src/cli.js schema > schema/pipeline.schema.json)', async () => {
    const committed = JSON.parse(await fsp.readFile(path.join(REPO, 'schema/pipeline.schema.json'), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(editorSchema(kinds.all()))));
    expect(await fsp.readFile(path.join(REPO, 'pipeline.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=\.\/schema\/pipeline\.schema\.json/);
  });
});
