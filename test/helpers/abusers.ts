/**
 * Abusive clients over raw TCP, for test/http/abuse.test.ts and
 * bench/abuse.ts: idle connections, request heads sent a byte at a time,
 * bodies trickled, clients that vanish mid-body. Each records when the
 * server closed its connection.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface Watched {
  readonly socket: net.Socket;
  readonly openedAt: number;
  /** performance.now() when the server ended the connection, or null while open. */
  closedAt: number | null;
  /** Bytes the server sent. */
  received: number;
}

/** The soft limit on open files of this process (Infinity when unknown). */
export function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

function watch(socket: net.Socket, onClose?: () => void): Watched {
  const w: Watched = { socket, openedAt: performance.now(), closedAt: null, received: 0 };
  const closed = () => {
    if (w.closedAt !== null) return;
    w.closedAt = performance.now();
    onClose?.();
  };
  socket.on('data', (chunk: Buffer) => (w.received += chunk.length));
  socket.on('end', closed);
  socket.on('close', closed);
  // A reset counts as a close.
  socket.on('error', () => {});
  return w;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Opens `count` connections that never send a byte, `batch` at a time (the listen backlog is finite). */
export async function openIdle(port: number, count: number, batch = 100): Promise<Watched[]> {
  const out: Watched[] = [];
  for (let i = 0; i < count; i += batch) {
    const sockets = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, () => connect(port)));
    out.push(...sockets.map((s) => watch(s)));
  }
  return out;
}

/** Sends `bytes` one at a time, every `intervalMs`, until done or closed. */
function trickle(w: Watched, bytes: Buffer, intervalMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (w.closedAt !== null || at >= bytes.length || w.socket.destroyed) {
      clearInterval(timer);
      return;
    }
    w.socket.write(bytes.subarray(at, at + 1));
    at += 1;
  }, intervalMs);
  w.socket.once('close', () => clearInterval(timer));
}

/** A GET whose head (padded to about 400 bytes) comes a byte every `intervalMs`: it never completes in time. */
export async function slowHead(port: number, path: string, intervalMs: number): Promise<Watched> {
  const w = watch(await connect(port));
  trickle(
    w,
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(300)}\r\n\r\n`),
    intervalMs,
  );
  return w;
}

/** A POST announcing 1000 bytes of body, whose head and first 10 bytes arrive at once, then a byte every `intervalMs`. */
export async function slowBody(port: number, path: string, intervalMs: number, onClose?: () => void): Promise<Watched> {
  const w = watch(await connect(port), onClose);
  w.socket.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"proxy_ad`,
  );
  trickle(w, Buffer.from(`dress":"${'x'.repeat(990)}`), intervalMs);
  return w;
}

/**
 * A POST announcing 1000 bytes of body that sends 10 and disappears once
 * they are written: the server reads them before the FIN.
 */
export async function vanish(port: number, path: string): Promise<void> {
  const socket = await connect(port);
  socket.on('error', () => {});
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', 'Content-Length: 1000'];
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  await new Promise<void>((resolve) => socket.write(`${head}{"proxy_ad`, () => resolve()));
  socket.destroy();
}

export function destroyAll(list: readonly Watched[]): void {
  for (const w of list) w.socket.destroy();
}

/** Resolves when every watched connection is closed, or at `deadline` (performance.now()). */
export async function closedBy(list: readonly Watched[], deadline: number): Promise<void> {
  while (list.some((w) => w.closedAt === null) && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
}
