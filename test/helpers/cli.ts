/**
 * The command line as a real child process, for test/cli: run it to the
 * end, or keep it running and wait for what it prints; run it inside a
 * pseudo-terminal (util-linux `script`) where a test needs a TTY. Every
 * wait is bounded, and every child still alive at exit is killed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { META_VERSION } from '../../src/domain/constants.js';
import type { ClusterView, MetaDocument } from '../../src/domain/types.js';
import { after, before } from 'node:test';
import { outRoot, startBroker } from './broker-process.js';
import type { BrokerProcess } from './broker-process.js';
import { buildDocument } from './documents.js';
import type { DocumentSpec } from './documents.js';
import { requireTool } from './tools.js';

export function cliMainPath(): string {
  const main = join(outRoot(), 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} does not exist: compile the whole project into ${outRoot()}`);
  return main;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Added to the environment (NO_COLOR=1 and no METABROKER_URL / UNDERMOON_* unless given); undefined removes. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  readonly input?: string;
  readonly timeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

function cliEnv(extra: Readonly<Record<string, string | undefined>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('UNDERMOON_') || k === 'METABROKER_URL' || k === 'FORCE_COLOR') continue;
    env[k] = v;
  }
  env.NO_COLOR = '1';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** A CLI process whose output is collected while it runs. */
export class CliChild {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;
  private readonly listeners = new Set<() => void>();
  private done = false;

  constructor(
    command: string,
    args: readonly string[],
    options: CliOptions & { readonly keepStdinOpen?: boolean } = {},
  ) {
    const piped = options.input !== undefined || options.keepStdinOpen === true;
    this.child = spawn(command, [...args], {
      env: cliEnv(options.env),
      stdio: [piped ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (s: string) => {
      this.stdout += s;
      this.notify();
    });
    this.child.stderr!.on('data', (s: string) => {
      this.stderr += s;
      this.notify();
    });
    if (options.input !== undefined) {
      this.child.stdin!.on('error', () => undefined);
      if (options.keepStdinOpen) this.child.stdin!.write(options.input);
      else this.child.stdin!.end(options.input);
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    this.exited = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(
          new Error(
            `${args.join(' ')}: no exit within ${timeoutMs} ms; ` +
              `stdout: ${this.stdout.slice(-2000)}; stderr: ${this.stderr.slice(-2000)}`,
          ),
        );
      }, timeoutMs);
      this.child.once('close', (code, signal) => {
        clearTimeout(timer);
        live.delete(this.child);
        this.done = true;
        this.notify();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once stdout+stderr satisfy `match`; rejects on exit first or after the timeout. */
  waitFor(match: (output: string) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (match(this.stdout + this.stderr)) return finish(null);
        if (this.done)
          return finish(new Error(`exited before ${what}; stdout: ${this.stdout}; stderr: ${this.stderr}`));
      };
      const finish = (err: Error | null) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => finish(new Error(`no ${what} within ${timeoutMs} ms; stdout: ${this.stdout}; stderr: ${this.stderr}`)),
        timeoutMs,
      );
      this.listeners.add(check);
      check();
    });
  }

  write(text: string): void {
    this.child.stdin!.write(text);
  }

  endInput(): void {
    this.child.stdin!.end();
  }
}

/** Runs `node dist/src/cli/main.js ...args` to its end. */
export function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new CliChild(process.execPath, [cliMainPath(), ...args], options).exited;
}

/** Starts the command line and leaves it running (watch, prompts); stdin stays open. */
export function startCli(args: readonly string[], options: CliOptions = {}): CliChild {
  return new CliChild(process.execPath, [cliMainPath(), ...args], { ...options, keepStdinOpen: true });
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Starts the command line inside a pseudo-terminal, so that its stdin,
 * stdout and stderr are TTYs; what the test writes is typed into it. The
 * terminal turns "\n" into "\r\n" in the output.
 */
export function startCliInTerminal(args: readonly string[], options: CliOptions = {}): CliChild {
  requireTool('script', 'bsdutils');
  const command = [process.execPath, cliMainPath(), ...args].map(shellQuote).join(' ');
  return new CliChild('script', ['-q', '-e', '-c', command, '/dev/null'], {
    ...options,
    keepStdinOpen: true,
    input: options.input ?? '',
  });
}

/** Runs a command expecting exit status 0 and nothing on stderr; returns stdout. */
export async function cliOk(args: readonly string[], options: CliOptions = {}): Promise<string> {
  const r = await cli(args, options);
  assert.equal(r.code, 0, `metabroker ${args.join(' ')} exited ${r.code}; stderr: ${r.stderr}; stdout: ${r.stdout}`);
  assert.equal(r.stderr, '', `metabroker ${args.join(' ')} wrote to stderr`);
  return r.stdout;
}

/** Replaces the broker's whole metadata (PUT /metadata), so that a test starts from a known state. */
export async function loadDocument(broker: BrokerProcess, doc: MetaDocument): Promise<void> {
  const answer = await broker.call('PUT', '/metadata', doc, { timeoutMs: 60_000 });
  assert.equal(answer.status, 200, `PUT /metadata: ${answer.status} ${answer.text}`);
}

/** Text lines without trailing spaces, for comparing tables. */
export function lines(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}

/**
 * The small fleet most tests start from: hosts host1..host3 with four free
 * proxies each, `127.0.0.<h>:700<i>`, global epoch 10.
 */
export function smallFleet(extra: Partial<DocumentSpec> = {}): MetaDocument {
  const proxies: string[] = [];
  for (let h = 1; h <= 3; h++) for (let i = 1; i <= 4; i++) proxies.push(`127.0.0.${h}:700${i}@host${h}`);
  return buildDocument({ proxies, ...extra });
}

/**
 * A fleet of 10,000 proxies: 1,000 hosts of 10 proxies, 1,000 clusters of
 * 16 nodes (8,000 proxies, each chunk across two neighbouring hosts) and
 * 2,000 free proxies.
 */
export function largeFleet(): MetaDocument {
  const address = (host: number, index: number) =>
    `127.1.${Math.floor(host / 250)}.${(host % 250) + 1}:${7000 + index}`;
  const proxies: string[] = [];
  for (let h = 0; h < 1000; h++)
    for (let i = 0; i < 10; i++) proxies.push(`${address(h, i)}@host${String(h).padStart(4, '0')}`);
  const clusters: Record<string, [string, string][]> = {};
  for (let k = 0; k < 1000; k++) {
    const chunks: [string, string][] = [];
    for (let c = 0; c < 4; c++) chunks.push([address(k, 2 * c), address((k + 1) % 1000, 2 * c + 1)]);
    clusters[`cluster${String(k).padStart(4, '0')}`] = chunks;
  }
  const doc = buildDocument({ proxies, clusters, globalEpoch: 100 });
  assert.equal(doc.version, META_VERSION);
  return doc;
}

/** Sends a request that must answer 200; returns the body. */
export async function apiOk(broker: BrokerProcess, method: string, path: string, body?: unknown): Promise<string> {
  const answer = await broker.call(method, path, body);
  assert.equal(answer.status, 200, `${method} ${path}: ${answer.status} ${answer.text}`);
  return answer.text;
}

/**
 * Does what a coordinator does once a migration's data has moved: commits
 * each migration a cluster's view shows, until the view shows none.
 */
export async function commitMigrations(broker: BrokerProcess, cluster: string): Promise<number> {
  let committed = 0;
  for (let round = 0; round < 1000; round++) {
    const view = (JSON.parse(await apiOk(broker, 'GET', `/clusters/meta/${cluster}`)) as { cluster: ClusterView })
      .cluster;
    const migrating = view.nodes.flatMap((n) => n.slots.filter((s) => s.tag !== 'None' && 'Migrating' in s.tag));
    if (migrating.length === 0) return committed;
    for (const slot_range of migrating) {
      await apiOk(broker, 'PUT', '/clusters/migrations', { cluster_name: cluster, slot_range });
      committed += 1;
    }
  }
  throw new Error(`migrations of ${cluster} never ended`);
}

/** The small fleet with one 4-node cluster `c1` across three hosts. */
export function oneClusterFleet(): MetaDocument {
  return smallFleet({
    clusters: {
      c1: [
        ['127.0.0.1:7001', '127.0.0.2:7001'],
        ['127.0.0.3:7001', '127.0.0.1:7002'],
      ],
    },
  });
}

export interface FileBroker {
  /** The broker of this test file (started before its first test). */
  readonly broker: BrokerProcess;
  /** Command-line arguments that point the CLI at it. */
  args(...words: string[]): string[];
}

/** One real broker for a whole test file, started before its tests and killed after them. */
export function useFileBroker(): FileBroker {
  let current: BrokerProcess | undefined;
  before(async () => {
    current = await startBroker();
  });
  after(async () => {
    await current?.kill();
  });
  const broker = (): BrokerProcess => {
    if (current === undefined) throw new Error('the broker starts in before(); use it inside tests');
    return current;
  };
  return {
    get broker() {
      return broker();
    },
    args: (...words) => ['--broker', broker().origin, ...words],
  };
}
