/**
 * Messages point at the user's file: a compile error reads `sources/bad.cpp:3:10: error: …` (not
 * the neutral `prog.cpp` the compile uses) in the build output, `--json` and `*.rejected.txt`,
 * while the `.s` keeps `prog.cpp`. A rejection restored from the cache replays its message, and a
 * program rejected by two targets counts once.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, runCli, summaryOf, toolchainFiles } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: sources/*.cpp } }
  asm: { kind: compile, from: programs }
  cleaned: { kind: compile, from: programs, params: { clean: true } }
  validated: { kind: validate, from: cleaned, with: { raw: asm, source: programs } }
`;

const BAD = '#include <cstdio>\nint main() {\n  return undeclared;\n}\n';

describe('messages name the user\'s source file', () => {
  it('build output, --json, rejected.txt, a cache restore, and identical programs each under their own name', async () => {
    const dir = await makeProject({
      'pipeline.yaml': PIPELINE, ...(await toolchainFiles()),
      'sources/good.cpp': '#include <cstdio>\nint main() { std::puts("ok"); }\n',
      'sources/bad.cpp': BAD,
      'sources/twin.cpp': BAD,
    });
    dirs.push(dir);
    const r = await runCli(dir, []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/asm\/bad .*✗ compile-error: sources\/bad\.cpp:3:10: error: .undeclared. was not declared/);
    expect(r.stderr).toMatch(/asm\/twin .*✗ compile-error: sources\/twin\.cpp:3:10: error:/);
    expect(r.stderr).not.toMatch(/prog\.cpp/);
    // Two programs, each rejected by asm and cleaned (and validated after them): two, not six.
    expect(r.stderr).toMatch(/^rejected: 2 \(compile-error 2\)/m);
    const txt = await fsp.readFile(path.join(dir, 'build/asm/bad.rejected.txt'), 'utf8');
    expect(txt).toMatch(/^compile-error\nsources\/bad\.cpp: In function .int main\(\).:\nsources\/bad\.cpp:3:10: error:/);
    expect(await fsp.readFile(path.join(dir, 'build/cleaned/twin.rejected.txt'), 'utf8')).toMatch(/sources\/twin\.cpp:3:10: error:/);
    expect(await fsp.readFile(path.join(dir, 'build/asm/good.s'), 'utf8')).toContain('.file\t"prog.cpp"');

    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    const again = await runCli(dir, []);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^restored asm\/bad from cache {2}✗ compile-error: sources\/bad\.cpp:3:10: error:/m);
    expect(again.stderr).toMatch(/^restored cleaned\/twin from cache {2}✗ compile-error: sources\/twin\.cpp:3:10: error:/m);
    expect(again.stderr).toMatch(/^rejected: 2 \(compile-error 2\)/m);
    expect(await fsp.readFile(path.join(dir, 'build/asm/bad.rejected.txt'), 'utf8')).toBe(txt);

    const j = await runCli(dir, ['--json']);
    const ev = j.events.find((e) => e.type === 'node-done' && e.id === 'asm/twin');
    expect(ev.message).toMatch(/^sources\/twin\.cpp: In function/);
    expect(summaryOf(j).rejected).toEqual({ 'compile-error': 2 });
  });
});
