/** Test helpers: temp projects and running the real, compiled CLI. */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO, 'dist', 'src', 'cli.js');
/** What `npm run build-graph` and the `asmgraph` bin run (scripts/bundle.mjs). */
export const BUNDLED_CLI = path.join(REPO, 'dist', 'bundle', 'cli.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  events: Record<string, any>[];
}

/** Runs `node dist/src/cli.js args` in `cwd`; with --json, stdout is parsed into `events`. */
export function runCli(cwd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 300_000, stdin: 'ignore' | 'pipe' = 'ignore', cli = CLI): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    // A hung CLI fails the test with what it printed, instead of a bare test timeout.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`asmgraph ${args.join(' ')} in ${cwd} did not finish in ${timeoutMs} ms\nstderr: ${stderr.slice(-4000)}\nstdout: ${stdout.slice(-4000)}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const events = args.includes('--json')
        ? stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>)
        : [];
      resolve({ code: code ?? -1, stdout, stderr, events });
    });
  });
}

export async function makeProject(files: Record<string, string>): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-test-'));
  for (const [rel, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fsp.writeFile(path.join(dir, rel), content);
  }
  return dir;
}

export async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    let entries;
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = await fsp.readFile(p, 'utf8');
    }
  };
  await walk(dir);
  return out;
}

/** node-done events by outcome. */
export function outcomes(r: CliResult): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of r.events) {
    if (e.type !== 'node-done' || String(e.id).includes('@')) continue;
    (out[e.outcome] ??= []).push(e.id);
  }
  for (const v of Object.values(out)) v.sort();
  return out;
}

export function summaryOf(r: CliResult): Record<string, any> {
  const e = r.events.find((x) => x.type === 'build-done');
  if (!e) throw new Error(`no build-done event; exit ${r.code}; stderr: ${r.stderr}`);
  return e.summary;
}

/** The repo's toolchain definitions, as `makeProject` files (`toolchain/<name>.yaml`). */
export async function toolchainFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
  return files;
}
