/** Debian's Chromium driven by playwright-core, and `asmgraph serve` as a real child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { CLI, REPO } from './cli.js';

export const CHROMIUM = '/usr/bin/chromium';

/** With ASMGRAPH_SCREENSHOTS=docs the screenshots go into docs/ (they are always taken). */
export const SHOTS = process.env.ASMGRAPH_SCREENSHOTS === 'docs' ? path.join(REPO, 'docs') : undefined;

/** Takes a screenshot into docs/ (ASMGRAPH_SCREENSHOTS=docs) or `dir`, and checks it is a real PNG. */
export async function shot(page: Page, name: string, dir: string): Promise<void> {
  const file = path.join(SHOTS ?? dir, name);
  await page.screenshot({ path: file, fullPage: false });
  const png = await fsp.readFile(file);
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  expect(png.length).toBeGreaterThan(10_000);
}

/** Waits until the page shows build cycle `atLeast` (or a later one) as finished. */
export const idle = (page: Page, atLeast: number, timeout = 240_000) =>
  page.waitForFunction((n) => {
    const el = document.querySelector('#cycle') as HTMLElement | null;
    return !!el && el.dataset.running === 'false' && Number(el.dataset.cycle) >= n;
  }, atLeast, { timeout });

/** The rows the program table shows: name → verdict. */
export async function tableVerdicts(page: Page): Promise<Record<string, string>> {
  return page.$$eval('div.prog', (trs) => Object.fromEntries(trs.map((tr) => [(tr as HTMLElement).dataset.key!, (tr as HTMLElement).dataset.verdict!])));
}

/** The names of the rows the program table shows, in order. */
export const shownKeys = (page: Page): Promise<string[]> => page.$$eval('div.prog', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key!));

/** A headless Chromium with a fresh profile folder (removed by `close`). */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      await fsp.rm(profile, { recursive: true, force: true });
    },
  };
}

export interface Served {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/** Starts `asmgraph serve --port 0 …` in `cwd` and resolves once it printed its URL. */
export function startServe(cwd: string, args: string[] = [], env: Record<string, string> = {}, cli = CLI): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let done = false;
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.stdout.resume();
    child.stderr.on('data', (d) => {
      err += d;
      const m = /curation view at (http:\/\/\S+)/.exec(err);
      if (m && !done) {
        done = true;
        resolve({
          url: m[1], child, stderr: () => err,
          stop: async () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      if (!done) reject(new Error(`asmgraph serve exited with ${code} before printing its URL:\n${err}`));
    });
  });
}
