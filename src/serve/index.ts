/**
 * `asmgraph serve [targets]` (and `asmgraph --watch --ui`): watch mode, plus a local web page fed by
 * the same engine events. The watcher rebuilds; the state folds the events; the server pushes them.
 */
import { randomBytes } from 'node:crypto';
import { UsageError } from '../pipeline/diagnostics.js';
import type { KindSource } from '../pipeline/load.js';
import type { RunFlags } from '../task-api.js';
import { watch } from '../watch.js';
import type { AsmAnnotator } from './program.js';
import { isLoopback, UiServer } from './server.js';
import { ProjectState } from './state.js';

export interface ServeCliOptions {
  host: string;
  port: number;
  /** From --token or ASMGRAPH_SERVE_TOKEN; a random one is made for a non-loopback host. */
  token?: string;
  jobs?: number;
  quiet: boolean;
  json: boolean;
  flags?: RunFlags;
  /** For the line map: compiles a program again with -fverbose-asm (tasks/registry.ts). */
  annotator?: AsmAnnotator;
}

export async function serve(kinds: KindSource, file: string | undefined, targets: string[], o: ServeCliOptions): Promise<number> {
  let token = o.token;
  if (!isLoopback(o.host)) {
    token ??= randomBytes(18).toString('base64url');
    if (token.length < 16) throw new UsageError('--token must be at least 16 characters');
  }
  let server: UiServer | undefined;
  const state = new ProjectState(() => server?.schedule(), targets);
  server = new UiServer(state, { host: o.host, port: o.port, token, annotator: o.annotator });
  let url: string;
  try {
    url = await server.listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${o.port} on ${o.host} is in use; pick another with --port (0 = any free port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`cannot listen on ${o.host}: no such local address`);
    throw err;
  }
  let announced = false;
  const announce = () => {
    if (announced) return;
    announced = true;
    // The URL (with its token, for another interface) goes to the terminal only, never to a file.
    // Printed once the pipeline is loaded and Ctrl-C / SIGTERM stop the session cleanly.
    process.stderr.write(`asmgraph: curation view at ${url}${isLoopback(o.host) ? '' : '  (listening beyond this machine: keep the token private)'}\n`);
    if (o.json) process.stdout.write(`${JSON.stringify({ type: 'serve-ready', port: server!.port })}\n`);
  };
  try {
    return await watch(kinds, file, targets, {
      jobs: o.jobs, json: o.json, quiet: o.quiet, flags: o.flags,
      onEvent: (e) => state.apply(e),
      onPipeline: (p) => {
        state.setPipeline(p);
        announce();
      },
    });
  } finally {
    await server.close();
  }
}
