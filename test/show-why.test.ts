/** `asmgraph show NODE` and `asmgraph why NODE`: one node inspected, nothing built. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, readTree, runCli, toolchainFiles } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: sources/*.cpp } }
  asm: { kind: compile, from: programs, params: { opt: O1 } }
  upper: { kind: command, from: asm, params: { run: 'tr a-z A-Z < "$IN" > "$OUT"', outputs: { out: .txt } } }
`;

describe('show and why', () => {
  it('show: state, key record in words, the command, outputs; why: what changed or what it depends on', async () => {
    const dir = await makeProject({
      'pipeline.yaml': PIPELINE, ...(await toolchainFiles()),
      'sources/fizzbuzz.cpp': '#include <cstdio>\nint main() { for (int i = 1; i <= 3; i++) std::printf("%d\\n", i); }\n',
    });
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);
    const tree = await readTree(path.join(dir, 'build'));

    const show = await runCli(dir, ['show', 'asm/fizzbuzz']);
    expect(show.code, show.stderr).toBe(0);
    const out = show.stdout;
    expect(out).toMatch(/^asm\/fizzbuzz {2}\(compile\)$/m);
    expect(out).toMatch(/^ {2}state: +fresh/m);
    expect(out).toMatch(/^ {2}result: +ok$/m);
    expect(out).toMatch(/^ {4}params: opt="O1"$/m);
    expect(out).toMatch(/^ {4}toolchain: x86_64 \(toolchain\/x86_64\.yaml\): g\+\+ .*, x86_64-linux-gnu/m);
    expect(out).toMatch(/^ {4}input from: sources\/fizzbuzz\.cpp \([0-9a-f]{8}\)$/m);
    expect(out).toMatch(/^ {4}\$ g\+\+ -S -std=gnu\+\+17 -O1 prog\.cpp -o prog\.s$/m);
    expect(out).toMatch(/^ {4}build\/asm\/fizzbuzz\.s \(\d+ bytes\)$/m);

    const cmd = await runCli(dir, ['show', 'upper/fizzbuzz']);
    expect(cmd.stdout).toMatch(/^ {4}input from: asm\/fizzbuzz's output s [0-9a-f]{8}$/m);
    expect(cmd.stdout).toMatch(/^ {4}\$ tr a-z A-Z < "\$IN" > "\$OUT"$/m);

    const why = await runCli(dir, ['why', 'asm/fizzbuzz']);
    expect(why.stdout).toMatch(/^asm\/fizzbuzz is up to date; it runs again when one of these changes:\n {2}the file sources\/fizzbuzz\.cpp\n/);
    expect(why.stdout).toContain('toolchain/x86_64.yaml or the installed g++');

    await fsp.writeFile(path.join(dir, 'sources/fizzbuzz.cpp'), '#include <cstdio>\nint main() { std::puts("fizz"); }\n');
    const stale = await runCli(dir, ['why', 'asm/fizzbuzz']);
    expect(stale.stdout).toMatch(/^asm\/fizzbuzz is stale; a build would run it:\n {2}sources\/fizzbuzz\.cpp changed \([0-9a-f]{8} → [0-9a-f]{8}\)\n$/);
    const down = await runCli(dir, ['why', 'upper/fizzbuzz']);
    expect(down.stdout).toContain('an input would be rebuilt first');
    const j = JSON.parse((await runCli(dir, ['show', 'asm/fizzbuzz', '--json'])).stdout);
    expect(j).toMatchObject({ id: 'asm/fizzbuzz', state: 'stale', status: 'ok', commands: [expect.stringMatching(/^g\+\+ -S /)] });
    // Nothing was built or changed.
    expect(await readTree(path.join(dir, 'build'))).toEqual(tree);

    const bad = await runCli(dir, ['show', 'asm/fizbuzz']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no node asm\/fizbuzz \(did you mean "asm\/fizzbuzz"\?\)/);
    const whole = await runCli(dir, ['show', 'asm']);
    expect(whole.code).toBe(2);
    expect(whole.stderr).toMatch(/asm runs once per item: name one, e\.g\. asm\/<item>/);
  });
});
