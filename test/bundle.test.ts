/**
 * The bundled CLI (dist/bundle/cli.js, what `npm run build-graph` and the `asmgraph` bin run)
 * finds the package's files from its own place: package.json for --version, web/ for serve, and
 * tsc's compiled token helper; a C++ build through it counts tokens like the unbundled CLI. A
 * package without the helper says so instead of counting in silence.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { countTokens } from '../tasks/lib/tokens.js';
import { startServe } from './support/browser.js';
import { BUNDLED_CLI, makeProject, REPO, runCli, toolchainFiles } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm: { kind: compile, from: programs, params: { toolchain: x86_64 } }
`;
const HELLO = '#include <cstdio>\nint main() { std::puts("hello"); }\n';

async function project(): Promise<string> {
  const d = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/hello.cpp': HELLO, ...(await toolchainFiles()) });
  dirs.push(d);
  return d;
}

describe('the bundled CLI', () => {
  it('prints the package version', async () => {
    const r = await runCli(REPO, ['--version'], {}, 60_000, 'ignore', BUNDLED_CLI);
    const pkg = JSON.parse(await fsp.readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('builds C++ with token counts from the compiled helper', async () => {
    const dir = await project();
    const r = await runCli(dir, ['--json'], {}, 120_000, 'ignore', BUNDLED_CLI);
    expect(r.code, r.stderr).toBe(0);
    const asm = await fsp.readFile(path.join(dir, 'build/asm/hello.s'), 'utf8');
    const done = r.events.find((e) => e.type === 'node-done' && e.id === 'asm/hello');
    expect(done?.meta?.tokens).toBe(countTokens(asm));
    expect(r.stderr).not.toContain('token-count helper');
  });

  it('a package without the compiled helper says so, and still counts', async () => {
    // The bundle and package.json as installed, but no dist/tasks/.
    const pkg = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-pkg-'));
    dirs.push(pkg);
    await fsp.cp(path.join(REPO, 'dist', 'bundle'), path.join(pkg, 'dist', 'bundle'), { recursive: true });
    await fsp.copyFile(path.join(REPO, 'package.json'), path.join(pkg, 'package.json'));
    await fsp.symlink(path.join(REPO, 'node_modules'), path.join(pkg, 'node_modules'));
    const dir = await project();
    const r = await runCli(dir, ['--json'], {}, 120_000, 'ignore', path.join(pkg, 'dist', 'bundle', 'cli.js'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`the token-count helper ${path.join(pkg, 'dist', 'tasks', 'lib', 'token-worker.js')} is missing`);
    const asm = await fsp.readFile(path.join(dir, 'build/asm/hello.s'), 'utf8');
    expect(r.events.find((e) => e.type === 'node-done' && e.id === 'asm/hello')?.meta?.tokens).toBe(countTokens(asm));
  });

  it('serve finds the web view', async () => {
    const dir = await project();
    const served = await startServe(dir, [], {}, BUNDLED_CLI);
    try {
      const page = await fetch(served.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toBe(await fsp.readFile(path.join(REPO, 'web', 'index.html'), 'utf8'));
    } finally {
      await served.stop();
    }
  });
});
