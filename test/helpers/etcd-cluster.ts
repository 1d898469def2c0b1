/**
 * A real etcd cluster for the tests: members started from Debian's
 * etcd-server package on loopback, each with its own data folder, stopped
 * (and their folders removed) when the test process exits.
 *
 * Every test process takes its own loopback address (./ports.ts), so fixed
 * ports never collide between test files running at once: no free-port race
 * is possible.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownPort, processLoopback } from './ports.js';

export const ETCD_BINARY = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p)) ?? null;

/** Why the etcd tests cannot run here, or null. .ci/run installs etcd-server, so in CI this is null. */
export function etcdMissing(): string | null {
  if (ETCD_BINARY === null) return 'etcd is not installed (apt-get install etcd-server); .ci/run installs it';
  const probe = spawnSync(ETCD_BINARY, ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `etcd --version failed: ${probe.stderr}`;
}

export { ownPort, processLoopback } from './ports.js';

// /dev/shm keeps etcd's fsyncs cheap, so a loaded 2-core box stays within election timeouts.
const DATA_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

export class EtcdMember {
  child: ChildProcess | null = null;
  readonly dataDir: string;
  stderr = '';

  constructor(
    readonly name: string,
    readonly host: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly initialCluster: string,
  ) {
    this.dataDir = mkdtempSync(join(DATA_ROOT, `metabroker-etcd-${name}-`));
  }

  get clientUrl(): string {
    return `http://${this.host}:${this.clientPort}`;
  }

  get peerUrl(): string {
    return `http://${this.host}:${this.peerPort}`;
  }

  /** Whether this member keeps the test process alive (false for the shared cluster). */
  holdsProcess = true;

  start(state: 'new' | 'existing' = 'new'): void {
    this.stderr = '';
    this.child = spawn(
      ETCD_BINARY!,
      [
        `--name=${this.name}`,
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${this.clientUrl}`,
        `--advertise-client-urls=${this.clientUrl}`,
        `--listen-peer-urls=${this.peerUrl}`,
        `--initial-advertise-peer-urls=${this.peerUrl}`,
        `--initial-cluster=${this.initialCluster}`,
        `--initial-cluster-state=${state}`,
        '--initial-cluster-token=metabroker-test',
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--log-level=error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4000)));
    if (!this.holdsProcess) {
      // The exit handler below kills it; it must not keep the test process running.
      this.child.unref();
      (this.child.stderr as unknown as { unref?: () => void }).unref?.();
    }
    live.add(this);
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

const live = new Set<EtcdMember>();
process.on('exit', () => {
  for (const member of live) {
    try {
      member.child?.kill('SIGKILL');
    } catch {
      // gone
    }
    rmSync(member.dataDir, { recursive: true, force: true });
  }
});

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export class EtcdCluster {
  constructor(readonly members: readonly EtcdMember[]) {}

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** Waits until every running member answers its health endpoint with a leader. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const member of this.members) {
      if (!member.child || member.child.exitCode !== null || member.child.signalCode !== null) continue;
      for (;;) {
        if (await healthy(member)) break;
        if (Date.now() > deadline)
          throw new Error(`etcd member ${member.name} not healthy within ${timeoutMs} ms: ${member.stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
    for (const m of this.members) {
      live.delete(m);
      rmSync(m.dataDir, { recursive: true, force: true });
    }
  }
}

async function healthy(member: EtcdMember): Promise<boolean> {
  if (!(await portOpen(member.host, member.clientPort))) return false;
  try {
    const res = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

/** Starts an etcd cluster of `size` members on this process's loopback address and waits for it to be healthy. */
export async function startEtcdCluster(size: number, holdsProcess = true): Promise<EtcdCluster> {
  const host = processLoopback();
  const specs = Array.from({ length: size }, (_, i) => ({ name: `m${i}`, client: ownPort(), peer: ownPort() }));
  const initial = specs.map((s) => `${s.name}=http://${host}:${s.peer}`).join(',');
  const members = specs.map((s) => new EtcdMember(s.name, host, s.client, s.peer, initial));
  for (const m of members) {
    m.holdsProcess = holdsProcess;
    m.start();
  }
  const cluster = new EtcdCluster(members);
  await cluster.waitHealthy();
  return cluster;
}

let shared: Promise<EtcdCluster> | null = null;

/** One single-member cluster per test process, started on first use, for suites that only need a real etcd. */
export function sharedEtcdCluster(): Promise<EtcdCluster> {
  const missing = etcdMissing();
  if (missing !== null) return Promise.reject(new Error(missing));
  shared ??= startEtcdCluster(1, false);
  return shared;
}
