/** Starting the broker and the baseline servers as child processes for the benchmarks. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Child {
  readonly process: ChildProcess;
  readonly port: number;
  /** Peak resident memory of the whole process (all threads), in bytes. */
  peakRss(): number;
  stop(): Promise<void>;
}

function waitForPort(child: ChildProcess, parse: (line: string) => number | null): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const port = parse(line);
        if (port !== null) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve(port);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before listening`)));
  });
}

function wrap(child: ChildProcess, port: number): Child {
  return {
    process: child,
    port,
    peakRss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
      return kb * 1024;
    },
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));

export async function startBroker(env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, [here('../src/main.js')], {
    env: { ...process.env, UNDERMOON_ADDRESS: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await waitForPort(child, (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      return entry.msg === 'listening' && typeof entry.port === 'number' ? entry.port : null;
    } catch {
      return null;
    }
  });
  return wrap(child, port);
}

export async function startBaseline(mode: 'fixed' | 'replay', arg: string): Promise<Child> {
  const child = spawn(process.execPath, [here('./baseline-server.js'), mode, arg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await waitForPort(child, (line) => {
    try {
      return (JSON.parse(line) as { port?: number }).port ?? null;
    } catch {
      return null;
    }
  });
  return wrap(child, port);
}
