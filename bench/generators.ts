/**
 * The load generators of `make bench`: autocannon (the project's own, run
 * in worker threads so that it is not the limit) and wrk, the cross-check,
 * when it is installed. Each load also reads the server process's CPU
 * counters, so that every figure comes with the server's CPU time per
 * 1,000 requests, which does not depend on the generator.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

export interface LoadResult {
  readonly rps: number;
  readonly p99: number;
  readonly requests: number;
  readonly errors: number;
  readonly non2xx: number;
  /** The server process's CPU time (user + system, all threads) per 1,000 requests, in ms. */
  readonly cpuMsPer1k: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU time of a process so far, in ms (Linux /proc; NaN elsewhere). */
export function cpuMs(pid: number): number {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

export interface Target {
  readonly port: number;
  readonly pid: number;
}

export interface LoadOptions {
  readonly connections: number;
  readonly seconds: number;
  /** autocannon worker threads. */
  readonly workers: number;
  /** Requests in flight per autocannon connection. */
  readonly pipelining?: number;
}

export async function autocannonLoad(target: Target, paths: readonly string[], o: LoadOptions): Promise<LoadResult> {
  const before = cpuMs(target.pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${target.port}`,
    connections: o.connections,
    duration: o.seconds,
    workers: o.workers,
    pipelining: o.pipelining ?? 1,
    requests: paths.map((path) => ({ method: 'GET', path })),
  });
  const cpu = cpuMs(target.pid) - before;
  const requests = result.requests.total;
  return {
    rps: requests / result.duration,
    p99: result.latency.p99,
    requests,
    errors: result.errors,
    non2xx: result.non2xx,
    cpuMsPer1k: (cpu * 1000) / Math.max(1, requests),
  };
}

export const WRK = '/usr/bin/wrk';

export function wrkInstalled(): boolean {
  return existsSync(WRK);
}

/** One wrk thread, rotating over `paths` as autocannon does. */
export async function wrkLoad(
  target: Target,
  paths: readonly string[],
  o: Omit<LoadOptions, 'workers'>,
): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'metabroker-wrk-'));
  const script = join(dir, 'paths.lua');
  const lua = [
    `local paths = {${paths.map((p) => JSON.stringify(p)).join(',')}}`,
    'local i = 0',
    'request = function()',
    '  i = i % #paths + 1',
    '  return wrk.format("GET", paths[i])',
    'end',
    'done = function(summary, latency)',
    '  local e = summary.errors',
    '  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.duration,',
    '    latency:percentile(99), e.connect + e.read + e.write + e.timeout))',
    '  io.write(string.format("NON2XX %d\\n", e.status))',
    'end',
  ];
  writeFileSync(script, `${lua.join('\n')}\n`);
  const before = cpuMs(target.pid);
  try {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        WRK,
        ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '-s', script, `http://127.0.0.1:${target.port}`],
        { timeout: (o.seconds + 30) * 1000 },
        (err, stdout) => (err ? reject(new Error(`wrk failed: ${err.message}`, { cause: err })) : resolve(stdout)),
      );
    });
    const cpu = cpuMs(target.pid) - before;
    const m = /RESULT (\d+) (\d+) (\d+) (\d+)/.exec(out);
    if (!m) throw new Error(`wrk printed no result: ${out}`);
    const requests = Number(m[1]);
    return {
      rps: requests / (Number(m[2]) / 1e6),
      p99: Number(m[3]) / 1000,
      requests,
      errors: Number(m[4]),
      non2xx: Number(/NON2XX (\d+)/.exec(out)?.[1] ?? 0),
      cpuMsPer1k: (cpu * 1000) / Math.max(1, requests),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
