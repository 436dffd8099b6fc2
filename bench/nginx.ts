/**
 * The real Debian nginx as a remote cache (for the tests and the remote benchmark): WebDAV PUT
 * into a data folder, GET and HEAD served from it, every request checked for
 * `Authorization: Bearer <token>`. Runs in the foreground with its config, pid, logs and temp folders in a temp dir, on 127.0.0.1 with a free
 * port. Tests read and damage entries through `root` (the server's own files).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const NGINX = '/usr/sbin/nginx';

export interface Nginx {
  url: string;
  /** With `readerToken`: a second endpoint on the same data that serves GET/HEAD and refuses PUT (403). */
  readerUrl?: string;
  port: number;
  /** The served folder: `<root>/cas/<hash>`, `<root>/ac/<key>`. */
  root: string;
  dir: string;
  /** Stops it (SIGQUIT after SIGTERM) and waits; `kill` is SIGKILL for the master and workers. */
  stop(): Promise<void>;
  kill(): Promise<void>;
  /** Access log lines so far (method and path of each request). */
  requests(): Promise<string[]>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function config(dir: string, port: number, token: string, reader?: { port: number; token: string }, status?: number): string {
  const t = (n: string) => path.join(dir, n);
  return `daemon off;
master_process on;
worker_processes 1;
pid ${t('nginx.pid')};
error_log ${t('error.log')} warn;
events { worker_connections 128; }
http {
  access_log ${t('access.log')};
  client_body_temp_path ${t('tmp/body')};
  proxy_temp_path ${t('tmp/proxy')};
  fastcgi_temp_path ${t('tmp/fastcgi')};
  uwsgi_temp_path ${t('tmp/uwsgi')};
  scgi_temp_path ${t('tmp/scgi')};
  client_max_body_size 0;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${t('data')};
    location / {
      if ($http_authorization != "Bearer ${token}") { return 401; }${status ? `
      return ${status};` : ''}
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }${reader ? `
  server {
    listen 127.0.0.1:${reader.port};
    root ${t('data')};
    location / {
      if ($http_authorization != "Bearer ${reader.token}") { return 401; }
      limit_except GET { deny all; }
    }
  }` : ''}
}
`;
}

export async function startNginx(token: string, opts: { readerToken?: string; /** Answer every request with this status. */ status?: number } = {}): Promise<Nginx> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-nginx-'));
  // Workers run as nobody when the tests run as root: they must be able to write here.
  await fsp.mkdir(path.join(dir, 'data'), { recursive: true });
  await fsp.mkdir(path.join(dir, 'tmp'), { recursive: true });
  for (const d of [dir, path.join(dir, 'data'), path.join(dir, 'tmp')]) await fsp.chmod(d, 0o777);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const reader = opts.readerToken ? { port: await freePort(), token: opts.readerToken } : undefined;
    await fsp.writeFile(path.join(dir, 'nginx.conf'), config(dir, port, token, reader, opts.status));
    const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let gone = false;
    void exited.then(() => (gone = true));
    // Ready when it accepts a connection (or gone, e.g. the port was taken in between).
    while (!gone && !(await canConnect(port))) await new Promise((r) => setTimeout(r, 20));
    if (gone) {
      if (attempt < 3 && /Address already in use/.test(stderr)) continue;
      throw new Error(`nginx did not start: ${stderr}`);
    }
    const workers = async (): Promise<number[]> => {
      const out = await new Promise<string>((resolve) => {
        const ps = spawn('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { stdio: ['ignore', 'pipe', 'ignore'] });
        let s = '';
        ps.stdout.on('data', (d) => (s += d));
        ps.on('close', () => resolve(s));
      });
      return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
    };
    const kill = async (sig: NodeJS.Signals) => {
      if (gone) return;
      const ws = sig === 'SIGKILL' ? await workers() : [];
      child.kill(sig);
      for (const w of ws) {
        try {
          process.kill(w, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await exited;
    };
    return {
      url: `http://127.0.0.1:${port}`,
      readerUrl: reader ? `http://127.0.0.1:${reader.port}` : undefined,
      port,
      root: path.join(dir, 'data'),
      dir,
      stop: async () => {
        await kill('SIGTERM');
        await fsp.rm(dir, { recursive: true, force: true });
      },
      kill: () => kill('SIGKILL'),
      requests: async () => (await fsp.readFile(path.join(dir, 'access.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean)
        .map((l) => /"(\w+) ([^ ]+)/.exec(l)).filter((m): m is RegExpExecArray => !!m).map((m) => `${m[1]} ${m[2]}`),
    };
  }
}

/** Files under `dir` (relative paths), sorted. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}
