/**
 * The broker as a real child process, for the end-to-end tests: start it
 * from the compiled tree this helper was compiled into, read its JSON log
 * lines, talk HTTP to it, stop or kill it. Every wait is bounded, and every
 * child still alive when the test process exits is killed by its pid.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The repository: the nearest folder above this file that holds package.json. */
export function repoRoot(): string {
  let dir = HERE;
  for (let i = 0; i < 64; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`no package.json above ${HERE}`);
}

/**
 * The root of the compiled tree this helper belongs to (dist/ or
 * .build/<name>/): the part of its path between the repository and test/.
 * The broker under test is the one compiled with the tests, never another
 * build that happens to lie around.
 */
export function outRoot(): string {
  const root = repoRoot();
  const parts = relative(root, HERE).split(sep);
  const testAt = parts.lastIndexOf('test');
  if (testAt <= 0)
    throw new Error(
      `${HERE} is not inside a compiled test tree under ${root} (run the compiled tests, not the sources)`,
    );
  return join(root, ...parts.slice(0, testAt));
}

export function brokerMainPath(): string {
  const main = join(outRoot(), 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} does not exist: compile the whole project into ${outRoot()}`);
  return main;
}

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'metabroker-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

const tempDirs: string[] = [];
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  // A failed assertion must not leave brokers running behind the test run.
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export interface LogLine {
  readonly level?: string;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Command-line arguments after main.js (the config file, if any). */
  readonly args?: readonly string[];
  /**
   * UNDERMOON_* settings and anything else. Added to this process's
   * environment without its own UNDERMOON_* variables, so that the tests
   * do not depend on the shell they run in. An undefined value removes a
   * variable (also one of the defaults below).
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Working directory; a fresh temporary folder by default, so a relative meta_filename lands there. */
  readonly cwd?: string;
}

/**
 * Ephemeral port unless the test says otherwise; one reader thread, since a
 * test sends little and a thread per core only slows every start (the CI
 * box has 2 cores and runs two test files at once).
 */
const DEFAULT_ENV: Readonly<Record<string, string>> = {
  UNDERMOON_ADDRESS: '127.0.0.1:0',
  UNDERMOON_READER_THREADS: '1',
};

/** A spawned broker whose output is being collected, listening or not. */
export class BrokerChild {
  readonly child: ChildProcess;
  /** Every stdout line that parsed as JSON, in order. */
  readonly logs: LogLine[] = [];
  private stdout = '';
  private stderr = '';
  private partial = '';
  private readonly listeners = new Set<() => void>();
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | null = null;

  constructor(options: SpawnOptions) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('UNDERMOON_')) env[k] = v;
    for (const [k, v] of Object.entries({ ...DEFAULT_ENV, ...options.env })) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    this.child = spawn(process.execPath, [brokerMainPath(), ...(options.args ?? [])], {
      cwd: options.cwd ?? tempDir(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveChildren.add(this.child);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      // 'close' comes after the pipes are drained, so the last lines are in.
      this.child.once('close', (code, signal) => {
        liveChildren.delete(this.child);
        this.exitInfo = { code, signal };
        this.notify();
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  stdoutText(): string {
    return this.stdout;
  }

  stderrText(): string {
    return this.stderr;
  }

  /** The tail of both streams, for assertion messages. */
  describe(): string {
    return `pid ${this.pid}; stderr: ${this.stderr.slice(-2000)}; stdout: ${this.stdout.slice(-2000)}`;
  }

  private onStdout(chunk: string): void {
    this.stdout += chunk;
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed !== null && typeof parsed === 'object') this.logs.push(parsed as LogLine);
      } catch {
        // not a log line; still in stdoutText()
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Resolves with the first log line (already seen or still to come) that
   * matches; rejects after `timeoutMs` or when the process exits first.
   */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, what = 'a matching log line'): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        const found = this.logs.find(match);
        if (found) return done(null, found);
        if (this.exitInfo)
          return done(new Error(`broker exited (${JSON.stringify(this.exitInfo)}) before ${what}; ${this.describe()}`));
      };
      const done = (err: Error | null, line?: LogLine) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve(line!);
      };
      timer = setTimeout(() => done(new Error(`no ${what} within ${timeoutMs} ms; ${this.describe()}`)), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for the exit; past `timeoutMs` it kills the process and rejects. */
  async waitForExit(timeoutMs: number): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`broker did not exit within ${timeoutMs} ms; ${this.describe()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL, the crash the durability tests simulate, and waits for the exit. */
  async kill(timeoutMs = 10_000): Promise<ExitInfo> {
    if (!this.exitInfo) this.child.kill('SIGKILL');
    return this.waitForExit(timeoutMs);
  }

  /** SIGTERM, the orderly stop, and waits for the exit. */
  async stop(timeoutMs = 15_000): Promise<ExitInfo> {
    if (!this.exitInfo) this.child.kill('SIGTERM');
    return this.waitForExit(timeoutMs);
  }
}

/** A broker that logged "listening". */
export class BrokerProcess extends BrokerChild {
  /** Where it listens, read back from its "listening" line (so port 0 works). */
  host = '127.0.0.1';
  port = 0;

  get origin(): string {
    return `http://${this.address}`;
  }

  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Sends a request to `/api/v2<path>`. */
  call(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<HttpAnswer> {
    return request(this.origin, method, `/api/v2${path}`, body, options);
  }
}

/** Spawns the broker and does not wait for anything: for starts that are meant to fail. */
export function spawnBroker(options: SpawnOptions = {}): BrokerChild {
  return new BrokerChild(options);
}

/** Spawns the broker and waits (bounded) until it listens; a failed start rejects with its output. */
export async function startBroker(
  options: SpawnOptions & { readonly startTimeoutMs?: number } = {},
): Promise<BrokerProcess> {
  const broker = new BrokerProcess(options);
  try {
    const line = await broker.waitForLog(
      (l) => l.msg === 'listening' && typeof l.port === 'number',
      options.startTimeoutMs ?? 20_000,
      'listening line',
    );
    broker.port = line.port as number;
    const host = line.address;
    if (typeof host === 'string' && host !== '' && host !== '0.0.0.0' && host !== '::') broker.host = host;
  } catch (err) {
    await broker.kill().catch(() => undefined);
    throw err;
  }
  return broker;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  /** The body parsed as JSON (throws if it is not JSON). */
  json<T = unknown>(): T;
}

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Bound on the whole exchange; default 10 s. */
  readonly timeoutMs?: number;
  /** Connection reuse; by default each request has its own connection. */
  readonly agent?: Agent;
}

/**
 * One HTTP exchange. A string body is sent as is, anything else as JSON.
 * Rejects on a transport error (refused, reset, cut off mid-answer) or after
 * the timeout; any HTTP status resolves.
 */
export function request(
  origin: string,
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<HttpAnswer> {
  const payload =
    body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  const headers: Record<string, string | number> = {};
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = payload.length;
  }
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: Error | null, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(answer!);
    };
    const req = httpRequest(`${origin}${path}`, { method, headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => finish(err));
      res.on('aborted', () => finish(new Error('answer cut off')));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        finish(null, {
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json<T>() {
            return JSON.parse(text) as T;
          },
        });
      });
    });
    timer = setTimeout(() => {
      finish(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish(err));
    req.end(payload);
  });
}

/** Polls `probe` every `intervalMs` until it returns a non-undefined value; rejects after `timeoutMs`. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})`}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The body of an add-proxy request for proxy `index` on host `host` (addresses on 127.0.0.<host>, never connected to). */
export function proxyBody(
  host: number,
  index: number,
): { proxy_address: string; nodes: [string, string]; host: string } {
  return {
    proxy_address: `127.0.0.${host}:${10000 + index}`,
    nodes: [`127.0.0.${host}:${20000 + index * 2}`, `127.0.0.${host}:${20001 + index * 2}`],
    host: `host${host}`,
  };
}
