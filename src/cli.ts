#!/usr/bin/env node
/**
 * asmgraph's command line. Exit codes: 0 ok, 1 build failed, 2 bad usage or bad pipeline,
 * 130 interrupted.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runBuild } from './commands/build.js';
import { gc, parseSize, verify } from './commands/cache.js';
import { clean } from './commands/clean.js';
import { renderGraph, type GraphFormat } from './commands/graph.js';
import { computeStatusReport, formatStatus, formatStatusVerbose } from './commands/status.js';
import { jsonDisplay, prepareTerminal, terminalDisplay, type Display } from './display.js';
import { errorMessage } from './errors.js';
import { parseShard } from './engine/shard.js';
import { formatDiagnostic, PipelineError, UsageError } from './pipeline/diagnostics.js';
import { PACKAGE_ROOT } from './package-root.js';
import { checkTargets, openPipeline as openWith } from './project.js';
// The one hand-over from the kinds to the engine: nothing else under src/ imports from tasks/.
import { allKinds, asmAnnotator, builtinKinds as kinds } from '../tasks/registry.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const openPipeline = (file?: string, opts: { remember?: boolean } = {}) => openWith(kinds, file, opts);

interface GlobalOpts {
  file?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/** `-j N`; `-j 0` means every CPU, as `settings.jobs: 0` does. */
function jobsArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number (0 = number of CPUs)');
  return n === 0 ? os.availableParallelism() : n;
}

function nonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected an amount in US dollars, e.g. 5 or 0.50');
  return n;
}

interface UiOpts {
  ui?: boolean;
  port?: number;
  host?: string;
  token?: string;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0–65535');
  return n;
}

async function startServe(g: GlobalOpts, targets: string[], o: UiOpts & { jobs?: number; yes?: boolean; maxCost?: number }): Promise<number> {
  const { serve } = await import('./serve/index.js');
  return serve(kinds, g.file, targets, {
    host: o.host ?? '127.0.0.1', port: o.port ?? 8020, token: o.token ?? process.env.ASMGRAPH_SERVE_TOKEN,
    jobs: o.jobs, quiet: !!g.quiet, json: !!g.json, flags: { yes: !!o.yes, maxCost: o.maxCost }, annotator: asmAnnotator,
  });
}

async function makeDisplay(g: GlobalOpts, explain = false): Promise<Display> {
  if (g.json) return jsonDisplay();
  if (process.stderr.isTTY) await prepareTerminal();
  return terminalDisplay({ verbosity: g.quiet ? 'quiet' : g.verbose ? 'verbose' : 'normal', explain });
}

/**
 * `asmgraph --json | head -1`: once the reader has closed the pipe, the run ends quietly (the
 * build stops as on Ctrl-C, so the store stays consistent) instead of crashing on EPIPE.
 */
let pipeClosed = false;
const stdoutClosed = new Promise<void>((resolve) => {
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      pipeClosed = true;
      resolve();
      return;
    }
    throw err;
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
});

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command();
  program
    .name('asmgraph')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .description('Content-addressed build graph: C++ programs → validated assembly → fine-tuning data → model')
    .option('-f, --file <path>', 'pipeline file (default: pipeline.yaml here or in a parent folder)')
    .option('--json', 'print engine events as NDJSON on stdout')
    .option('-q, --quiet', 'print only warnings, failures and the summary')
    .option('-v, --verbose', 'print every node')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');

  const withSignal = async <T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const ac = new AbortController();
    stdoutClosed.then(() => ac.abort(), () => {});
    let count = 0;
    const onSig = () => {
      count++;
      if (count > 1) process.exit(EXIT.interrupted);
      ac.abort();
    };
    process.on('SIGINT', onSig);
    process.on('SIGTERM', onSig);
    try {
      return await fn(ac.signal);
    } finally {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    }
  };

  program
    .command('build', { isDefault: true })
    .description('bring targets up to date (default: the pipeline\'s default targets)')
    .argument('[targets...]', 'targets to build')
    .addOption(new Option('-j, --jobs <n>', 'parallel CPU jobs (default and 0: number of CPUs)').argParser(jobsArg))
    .option('-k, --keep-going', 'go on with everything that does not depend on a failure')
    .option('-n, --dry-run', 'show what would run and why; run nothing')
    .option('--explain', 'for every node that runs, say which input or parameter changed')
    .option('--force', 'run every node even if its result is cached')
    .option('-w, --watch', 'keep the targets built while files change')
    .option('--ui', 'with --watch: also serve the curation web view (see `asmgraph serve`)')
    .addOption(new Option('--port <n>', 'with --ui: port (default 8020; 0 = any free port)').argParser(port))
    .option('--host <address>', 'with --ui: interface to listen on (default 127.0.0.1; others need a token)')
    .option('--token <token>', 'with --ui on another interface: the access token (default: ASMGRAPH_SERVE_TOKEN, else a random one)')
    .option('-y, --yes', 'allow LLM targets to spend money (within --max-cost)')
    .addOption(new Option('--max-cost <usd>', 'refuse LLM work estimated to cost more than this many US dollars').argParser(nonNegative))
    .option('--remote-cache <url>', "shared cache speaking Bazel's HTTP protocol (token: ASMGRAPH_REMOTE_TOKEN); see docs/remote.md")
    .option('--remote-read-only', 'use the remote cache without uploading to it')
    .option('--shard <k/N|auto|auto/N>', 'run only shard k of N of the per-item work (auto: from Slurm / Kubernetes); see docs/remote.md')
    .action(async (targets: string[], o: { jobs?: number; keepGoing?: boolean; dryRun?: boolean; explain?: boolean; force?: boolean; watch?: boolean; yes?: boolean; maxCost?: number; remoteCache?: string; remoteReadOnly?: boolean; shard?: string } & UiOpts) => {
      const g = program.opts<GlobalOpts>();
      const p = await openPipeline(g.file, { remember: !o.dryRun });
      if (o.watch && (o.shard !== undefined || o.remoteCache !== undefined)) throw new UsageError('--watch builds on this machine only: it takes neither --shard nor --remote-cache');
      if (o.ui && !o.watch) throw new UsageError('--ui needs --watch (or run `asmgraph serve`)');
      if (!o.ui && (o.port !== undefined || o.host !== undefined || o.token !== undefined)) throw new UsageError('--port, --host and --token go with --watch --ui (or `asmgraph serve`)');
      if (o.ui) {
        exitCode = await startServe(g, targets, o);
        return;
      }
      if (o.watch) {
        const { watch } = await import('./watch.js');
        exitCode = await watch(kinds, g.file, targets, { jobs: o.jobs, json: !!g.json, quiet: !!g.quiet, flags: { yes: !!o.yes, maxCost: o.maxCost } });
        return;
      }
      const display = await makeDisplay(g, !!o.explain);
      for (const w of p.warnings) display.line(`warning: ${w}`);
      const flags = { yes: !!o.yes, maxCost: o.maxCost };
      const shard = o.shard === undefined ? undefined : parseShard(o.shard);
      const summary = await withSignal((signal) => runBuild(p, { targets, ...o, shard, flags, signal }, display.listener));
      display.close();
      exitCode = pipeClosed ? EXIT.ok : summary.interrupted ? EXIT.interrupted : summary.ok ? EXIT.ok : EXIT.failed;
    });

  program
    .command('serve')
    .description('watch mode with a live local web view for curating the dataset (docs/curation-ui.md)')
    .argument('[targets...]', 'targets to keep built (default: the default targets)')
    .addOption(new Option('-j, --jobs <n>', 'parallel CPU jobs (default and 0: number of CPUs)').argParser(jobsArg))
    .addOption(new Option('--port <n>', 'port (default 8020; 0 = any free port)').argParser(port))
    .option('--host <address>', 'interface to listen on (default 127.0.0.1; any other needs a token)')
    .option('--token <token>', 'access token for another interface (default: ASMGRAPH_SERVE_TOKEN, else a random one)')
    .option('-y, --yes', 'allow LLM targets to spend money (within --max-cost)')
    .addOption(new Option('--max-cost <usd>', 'refuse LLM work estimated to cost more than this many US dollars').argParser(nonNegative))
    .action(async (targets: string[], o: UiOpts & { jobs?: number; yes?: boolean; maxCost?: number }) => {
      exitCode = await startServe(program.opts<GlobalOpts>(), targets, o);
    });

  program
    .command('graph')
    .description('print the target graph')
    .argument('[targets...]', 'only these targets')
    .addOption(new Option('--format <format>', 'output format: text (no Graphviz needed), dot or mermaid').choices(['text', 'dot', 'mermaid']).default('text'))
    .action(async (targets: string[], o: { format: GraphFormat }) => {
      const p = await openPipeline(program.opts<GlobalOpts>().file);
      checkTargets(p, targets);
      process.stdout.write(`${renderGraph(p, o.format, targets)}\n`);
    });

  program
    .command('status')
    .description('fresh / stale / rejected counts per target (builds nothing)')
    .argument('[targets...]', 'targets (default: the default targets)')
    .option('-v, --verbose', 'also list every stale and rejected node with its reason')
    .action(async (targets: string[], o: { verbose?: boolean }) => {
      const g = program.opts<GlobalOpts>();
      const p = await openPipeline(g.file);
      const verbose = !!(o.verbose || g.verbose);
      const report = await computeStatusReport(p, targets);
      if (g.json) process.stdout.write(`${JSON.stringify(verbose ? report : report.rows)}\n`);
      else process.stdout.write(`${verbose ? formatStatusVerbose(report) : formatStatus(report.rows)}\n`);
    });

  program
    .command('show')
    .description('one node: its state, key record, commands, log and outputs (builds nothing)')
    .argument('<node>', 'target/item, e.g. asm/fizzbuzz, or an aggregate target, e.g. dataset')
    .action(async (node: string) => {
      const g = program.opts<GlobalOpts>();
      const p = await openPipeline(g.file);
      const { inspectNode, formatShow } = await import('./commands/show.js');
      const r = await inspectNode(p, node);
      process.stdout.write(g.json ? `${JSON.stringify(r)}\n` : `${formatShow(r)}\n`);
    });

  program
    .command('why')
    .description('what would make a node run: what changed, or what it depends on (builds nothing)')
    .argument('<node>', 'target/item, e.g. asm/fizzbuzz, or an aggregate target')
    .action(async (node: string) => {
      const g = program.opts<GlobalOpts>();
      const p = await openPipeline(g.file);
      const { inspectNode, formatWhy } = await import('./commands/show.js');
      const r = await inspectNode(p, node);
      process.stdout.write(g.json ? `${JSON.stringify({ id: r.id, state: r.state, why: r.why, dependsOn: r.dependsOn })}\n` : `${formatWhy(r)}\n`);
    });

  program
    .command('clean')
    .description('remove materialized outputs (the cache keeps them: a rebuild restores without running)')
    .argument('[targets...]', 'targets (default: all)')
    .action(async (targets: string[]) => {
      const g = program.opts<GlobalOpts>();
      const p = await openPipeline(g.file);
      const removed = await clean(p, targets, (h) => process.stderr.write(`waiting for ${h}…\n`));
      if (!g.quiet) process.stderr.write(`removed ${removed.length} files\n`);
    });

  program
    .command('setup')
    .description('install the Debian packages the project needs that are missing (apt-get; as root or with sudo)')
    .option('--test', 'also what the test suite needs (cross toolchains, qemu, nginx, chromium, make, ninja)')
    .option('--toolchains <dir>', 'folder of toolchain definitions (default: this package\'s toolchain/)')
    .action(async (o: { test?: boolean; toolchains?: string }) => {
      const { setup } = await import('./commands/setup.js');
      exitCode = setup({ profile: o.test ? 'test' : 'build', toolchainDir: o.toolchains });
    });

  program
    .command('doctor')
    .description('check the system tools the project needs: found / missing, with the install line')
    .option('--test', 'what the test suite needs too')
    .option('--toolchains <dir>', 'folder of toolchain definitions (default: this package\'s toolchain/)')
    .action(async (o: { test?: boolean; toolchains?: string }) => {
      const { doctor } = await import('./commands/setup.js');
      exitCode = doctor({ profile: o.test ? 'test' : 'build', toolchainDir: o.toolchains });
    });

  program
    .command('schema')
    .description('print the JSON Schema of pipeline.yaml (committed as schema/pipeline.schema.json)')
    .action(async () => {
      const { editorSchema } = await import('./pipeline/schema.js');
      process.stdout.write(`${JSON.stringify(editorSchema((await allKinds()).all()), null, 2)}\n`);
    });

  const cache = program.command('cache').description('manage the content-addressed store in cache/');
  cache
    .command('gc')
    .description('evict least-recently-used entries the current graph does not reference')
    .requiredOption('--max-size <size>', 'target size, e.g. 500M, 2G')
    .action(async (o: { maxSize: string }) => {
      const g = program.opts<GlobalOpts>();
      const p = await openPipeline(g.file);
      let max: number;
      try {
        max = parseSize(o.maxSize);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const r = await gc(p, max, (h) => process.stderr.write(`waiting for ${h}…\n`));
      if (g.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else process.stderr.write(`cache: ${mb(r.before)} → ${mb(r.after)}; evicted ${r.evictedRecords} records and ${r.removedBlobs} blobs; ${r.protectedRecords} referenced by the current graph kept\n`);
    });
  cache
    .command('verify')
    .description('re-hash every entry; remove corrupt or dangling ones')
    .action(async () => {
      const g = program.opts<GlobalOpts>();
      const p = await openPipeline(g.file);
      const r = await verify(p, (h) => process.stderr.write(`waiting for ${h}…\n`));
      if (g.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        process.stderr.write(`checked ${r.blobs} blobs (${mb(r.bytes)}) and ${r.records} records: ${r.corruptBlobs.length} corrupt blobs, ${r.corruptRecords} corrupt records, ${r.danglingRecords} dangling records removed\n`);
      }
      if (r.corruptBlobs.length || r.corruptRecords || r.danglingRecords) exitCode = EXIT.failed;
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof PipelineError) {
      for (const d of err.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
      return EXIT.usage;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`asmgraph: ${err.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`asmgraph: ${errorMessage(err)}\n`);
    if (process.env.ASMGRAPH_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return EXIT.failed;
  }
  return exitCode;
}

/** The version in the package's package.json. */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}


main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
