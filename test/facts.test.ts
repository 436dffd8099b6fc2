/**
 * Slow machine facts remembered across builds (src/store/facts.ts): a no-op build asks the
 * compiler nothing, and a compiler replaced by another (an upgrade) is noticed and rebuilds.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandStamp, FactCache, fileStamp } from '../src/store/facts.js';
import { makeProject, runCli } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** A g++ that logs each call and answers `--version` with `version`, then runs the real one. */
const wrapper = (log: string, version: string) => `#!/bin/sh
echo "$*" >> '${log}'
if [ "$1" = --version ]; then echo '${version}'; exit 0; fi
exec /usr/bin/g++ "$@"
`;

/** Files written now count as "just modified" (nothing is remembered under them for 2 s): age them. */
async function age(...files: string[]): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  for (const f of files) await fsp.utimes(f, past, past);
}

describe('FactCache', () => {
  it('returns a fact only under its stamp, survives a reload, and starts empty from a damaged file', async () => {
    const dir = await makeProject({});
    dirs.push(dir);
    const file = path.join(dir, 'facts.json');
    const a = new FactCache(file);
    a.set('k', 's1', { v: 1 });
    expect(a.get('k', 's1')).toEqual({ v: 1 });
    expect(a.get('k', 's2')).toBeUndefined();
    await a.save();
    expect(new FactCache(file).get('k', 's1')).toEqual({ v: 1 });
    await fsp.writeFile(file, '{"k": {"stamp": "s1", "val');
    expect(new FactCache(file).get('k', 's1')).toBeUndefined();
  });

  it('a file replaced, rewritten or just modified has a different stamp, or none', async () => {
    const dir = await makeProject({ 'bin/tool': '#!/bin/sh\necho 1\n' });
    dirs.push(dir);
    const tool = path.join(dir, 'bin/tool');
    await fsp.chmod(tool, 0o755);
    expect(fileStamp(tool)).toBeUndefined(); // modified in the last 2 s
    await age(tool);
    const before = fileStamp(tool)!;
    expect(before).toContain(tool);
    expect(commandStamp('tool', path.join(dir, 'bin'))).toBe(before);
    expect(commandStamp('tool', path.join(dir, 'nowhere'))).toBeUndefined();
    // Same size, replaced by rename (how packages install): a new inode.
    await fsp.writeFile(`${tool}.new`, '#!/bin/sh\necho 2\n', { mode: 0o755 });
    await fsp.rename(`${tool}.new`, tool);
    await age(tool);
    expect(fileStamp(tool)).not.toBe(before);
  });
});

describe('a build remembers what the compiler said', () => {
  it('a no-op asks the compiler nothing; a replaced compiler is asked again and everything recompiles', async () => {
    const dir = await makeProject({
      'src/a.cpp': '#include <cstdio>\nint main() { std::puts("a"); }\n',
      'src/b.cpp': '#include <cstdio>\nint main() { std::puts("b"); }\n',
    });
    dirs.push(dir);
    const log = path.join(dir, 'gxx.log');
    const gxx = path.join(dir, 'bin/g++');
    await fsp.mkdir(path.dirname(gxx), { recursive: true });
    await fsp.writeFile(gxx, wrapper(log, 'g++ (Wrapped) 12.2.0'), { mode: 0o755 });
    await fsp.mkdir(path.join(dir, 'toolchain'));
    const tcFile = path.join(dir, 'toolchain/x86_64.yaml');
    await fsp.writeFile(tcFile, `name: x86_64\ntriple: x86_64-linux-gnu\ncxx: ${gxx}\ndebianPackage: g++\nflags: [-std=gnu++17]\nlinkFlags: []\nrun: []\nrunPackage: null\ncleanFlags: []\n`);
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), `version: 1\ndefault: [asm]\ntargets:\n  programs: { kind: files, params: { glob: "src/*.cpp" } }\n  asm: { kind: compile, from: programs, params: { toolchain: x86_64, opt: O0 } }\n`);
    await age(gxx, tcFile);
    const calls = async () => (await fsp.readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l === '--version' || l === '-dumpmachine');

    const first = await runCli(dir, ['--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(await calls()).toEqual(expect.arrayContaining(['--version', '-dumpmachine']));
    await fsp.rm(log);

    const noop = await runCli(dir, ['--json']);
    expect(noop.code, noop.stderr).toBe(0);
    expect(noop.events.find((e) => e.type === 'build-done')?.summary.upToDate).toBe(2);
    expect(await calls()).toEqual([]);
    // A fresh process, and still nothing asked: the facts came from cache/state/facts.json.
    const facts = JSON.parse(await fsp.readFile(path.join(dir, 'cache/state/facts.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(facts).some((k) => k.startsWith('toolchain-identity'))).toBe(true);
    expect(Object.keys(facts).some((k) => k.startsWith('toolchain-file'))).toBe(true);

    // The compiler upgraded: replaced by another file that says another version.
    await fsp.writeFile(`${gxx}.new`, wrapper(log, 'g++ (Wrapped) 12.3.0'), { mode: 0o755 });
    await fsp.rename(`${gxx}.new`, gxx);
    await age(gxx);
    const upgraded = await runCli(dir, ['--json', '--explain']);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(await calls()).toContain('--version');
    const done = upgraded.events.filter((e) => e.type === 'node-done' && e.target === 'asm');
    expect(done.map((e) => e.outcome)).toEqual(['executed', 'executed']);
    expect(done[0].why.join('\n')).toMatch(/12\.2\.0.*12\.3\.0/);
  }, 120_000);
});
