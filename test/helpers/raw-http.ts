/**
 * A raw HTTP/1.1 client over one keep-alive TCP connection, for requests
 * fetch refuses to send or rewrites (raw non-ASCII or invalid UTF-8 path
 * bytes, dot segments, bad percent-encoding, odd methods, hand-made chunked
 * bodies), and for counting what the server does to a connection.
 */
import net from 'node:net';

export interface RawAnswer {
  readonly status: number;
  /** Header names lower-cased; the last value wins. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  readonly text: string;
  /**
   * Bytes that came before this answer's status line and belong to no
   * answer: a body sent after a HEAD answer's head, say. Empty normally.
   */
  readonly stray: Buffer;
}

export interface RawRequest {
  readonly method: string;
  /** The request target exactly as sent: path and query, any bytes but CR, LF, SP. */
  readonly target: string | Buffer;
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: Buffer | null;
  /** Send the body with Transfer-Encoding: chunked, cut in pieces of these sizes (the rest in one). */
  readonly chunks?: readonly number[];
}

/** The bytes of a request; Content-Length is added for a body unless chunked. */
export function requestBytes(req: RawRequest): Buffer {
  const lines: Buffer[] = [
    Buffer.from(`${req.method} `, 'latin1'),
    typeof req.target === 'string' ? Buffer.from(req.target, 'utf8') : req.target,
    Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'latin1'),
  ];
  for (const [name, value] of req.headers ?? []) lines.push(Buffer.from(`${name}: ${value}\r\n`, 'latin1'));
  const body = req.body ?? null;
  if (body !== null && req.chunks) {
    lines.push(Buffer.from('Transfer-Encoding: chunked\r\n\r\n', 'latin1'));
    let at = 0;
    for (const size of [...req.chunks, body.length]) {
      const piece = body.subarray(at, Math.min(body.length, at + size));
      at += piece.length;
      if (piece.length === 0) continue;
      lines.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
    }
    lines.push(Buffer.from('0\r\n\r\n', 'latin1'));
  } else {
    if (body !== null) lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`, 'latin1'));
    lines.push(Buffer.from('\r\n', 'latin1'));
    if (body !== null) lines.push(body);
  }
  return Buffer.concat(lines);
}

const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = Buffer.from('HTTP/1.1 ');

/**
 * One connection, one request at a time. `send` resolves with the answer,
 * or null when the server closed the connection without answering (the
 * next `send` reconnects); it rejects when no answer comes in time.
 */
export class RawConnection {
  private socket: net.Socket | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private stray: Buffer = Buffer.alloc(0);
  private waiting: { head: boolean; resolve: (a: RawAnswer | null) => void } | null = null;
  /** Connections the server closed, answered or not. */
  closedByServer = 0;

  constructor(private readonly port: number) {}

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
      socket.on('data', (chunk: Buffer) => {
        this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
        this.tryParse();
      });
      socket.on('close', () => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.buffered = Buffer.alloc(0);
        this.stray = Buffer.alloc(0);
        this.closedByServer += 1;
        const w = this.waiting;
        this.waiting = null;
        w?.resolve(null);
      });
      // A reset is seen as a close; the error itself needs no handling.
      socket.on('error', () => {});
    });
  }

  private tryParse(): void {
    const w = this.waiting;
    if (!w) return;
    // Whatever precedes the status line is not part of this answer: keep it apart, so that a test can see it.
    const start = this.buffered.indexOf(STATUS_LINE);
    if (start < 0) return;
    const stray = Buffer.from(this.buffered.subarray(0, start));
    this.buffered = this.buffered.subarray(start);
    this.stray = this.stray.length === 0 ? stray : Buffer.concat([this.stray, stray]);
    const end = this.buffered.indexOf(HEAD_END);
    if (end < 0) return;
    const head = this.buffered.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? NaN);
    const headers = new Map<string, string>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    // uWS always answers with a Content-Length (none for a HEAD answer).
    const length = w.head ? 0 : Number(headers.get('content-length') ?? 0);
    if (this.buffered.length < end + 4 + length) return;
    const body = Buffer.from(this.buffered.subarray(end + 4, end + 4 + length));
    this.buffered = this.buffered.subarray(end + 4 + length);
    this.waiting = null;
    const strayBytes = this.stray;
    this.stray = Buffer.alloc(0);
    w.resolve({ status, headers, body, text: body.toString('utf8'), stray: strayBytes });
  }

  /** Sends a request and waits for its answer (null: closed without one). */
  async send(
    req: RawRequest | Buffer,
    timeoutMs = 10_000,
    head = !Buffer.isBuffer(req) && req.method === 'HEAD',
  ): Promise<RawAnswer | null> {
    if (this.waiting) throw new Error('one request at a time');
    this.socket ??= await this.connect();
    const socket = this.socket;
    return new Promise<RawAnswer | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        this.close();
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        head,
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
      };
      socket.write(Buffer.isBuffer(req) ? req : requestBytes(req));
    });
  }

  close(): void {
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
  }
}
