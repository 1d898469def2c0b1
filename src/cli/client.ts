/**
 * The broker's HTTP API as the command line sees it: one or more base URLs
 * tried in order until one answers, keep-alive connections, a timeout per
 * request, and answers turned into values or BrokerRefusal errors.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { BrokerRefusal, BrokerUnreachable, UnexpectedAnswer, UsageError } from './errors.js';

export const API_PREFIX = '/api/v2';

/** How many requests may be in flight at once (the reads of large fleets run this wide). */
export const MAX_IN_FLIGHT = 32;

export interface ClientOptions {
  /** Base URLs, e.g. `http://127.0.0.1:7799`; tried in this order. */
  readonly urls: readonly string[];
  /** Sent as `Authorization: Bearer <token>` when not empty. */
  readonly token?: string | undefined;
  readonly timeoutMs: number;
}

export interface Answer {
  readonly status: number;
  readonly text: string;
}

export interface RequestOptions {
  /** JSON text or bytes. */
  readonly body?: string | Buffer;
  /** Called with (bytes sent, total) while a large body goes out. */
  readonly onUpload?: (sent: number, total: number) => void;
  /** Called with (bytes received, announced total or 0) while an answer comes in. */
  readonly onDownload?: (received: number, total: number) => void;
}

/** Parses `--broker`: comma-separated http(s) URLs; a trailing slash or /api/v2 is dropped. */
export function parseBrokerUrls(value: string): string[] {
  const urls = value
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (urls.length === 0) throw new UsageError('--broker: give at least one URL, e.g. http://127.0.0.1:7799');
  return urls.map((raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new UsageError(`--broker: ${raw} is not a URL (expected e.g. http://127.0.0.1:7799)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new UsageError(`--broker: ${raw} must start with http:// or https://`);
    const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v2$/, '');
    return `${url.protocol}//${url.host}${path}`;
  });
}

/** A transport failure: the URL did not answer at all. */
class NoAnswer extends Error {
  /** A kept-alive connection the server had closed: the request never reached it, so one retry is safe. */
  constructor(
    message: string,
    readonly staleConnection = false,
  ) {
    super(message);
  }
}

function describeTransportError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    default:
      return err.message;
  }
}

export class BrokerClient {
  private readonly urls: readonly string[];
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  /** The URL that answered last: later requests go there first. */
  private current = 0;

  constructor(options: ClientOptions) {
    this.urls = options.urls;
    this.token = options.token === '' ? undefined : options.token;
    this.timeoutMs = options.timeoutMs;
  }

  /** The base URL that answered last (the first one until something answered). */
  get url(): string {
    return this.urls[this.current]!;
  }

  /** Closes the kept-alive connections so that the process can exit. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /**
   * One exchange with the first URL that answers, starting from the one that
   * answered last. Any HTTP status resolves; only when no URL answers at all
   * does it reject, with BrokerUnreachable.
   */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const failures: string[] = [];
    for (let i = 0; i < this.urls.length; i++) {
      const index = (this.current + i) % this.urls.length;
      const base = this.urls[index]!;
      try {
        const answer = await this.exchange(base, method, path, options).catch((err: unknown) => {
          if (err instanceof NoAnswer && err.staleConnection) return this.exchange(base, method, path, options);
          throw err;
        });
        this.current = index;
        return answer;
      } catch (err) {
        if (!(err instanceof NoAnswer)) throw err;
        failures.push(`${base}: ${err.message}`);
      }
    }
    throw new BrokerUnreachable(failures);
  }

  /** The JSON body of a 200 answer ('' when empty); a refusal throws BrokerRefusal. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    options: Omit<RequestOptions, 'body'> = {},
  ): Promise<string> {
    const payload =
      body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const answer = await this.send(method, path, payload === undefined ? options : { ...options, body: payload });
    if (answer.status >= 200 && answer.status < 300) return answer.text;
    throw BrokerRefusal.fromAnswer(answer.status, answer.text, `${method} ${API_PREFIX}${path}`);
  }

  /** A 2xx answer's body both as text (printed as is by -o json) and parsed. */
  async callJson<T>(method: string, path: string, body?: unknown): Promise<{ text: string; value: T }> {
    const text = await this.call(method, path, body);
    return { text, value: parseAnswer<T>(text, `${method} ${API_PREFIX}${path}`) };
  }

  /** A JSON read; `path` is relative to /api/v2. */
  async get<T>(path: string, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return parseAnswer<T>(await this.call('GET', path, undefined, options), `GET ${API_PREFIX}${path}`);
  }

  private exchange(base: string, method: string, path: string, options: RequestOptions): Promise<Answer> {
    const url = new URL(`${base}${API_PREFIX}${path}`);
    const secure = url.protocol === 'https:';
    const body =
      options.body === undefined
        ? undefined
        : Buffer.isBuffer(options.body)
          ? options.body
          : Buffer.from(options.body, 'utf8');
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = body.length;
    }
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    const send = secure ? httpsRequest : httpRequest;
    const agent = secure ? this.httpsAgent : this.httpAgent;

    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      let answered = false;
      const finish = (err: Error | null, answer?: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(answer!);
      };
      const req = send(url, { method, headers, agent }, (res: IncomingMessage) => {
        answered = true;
        const total = Number(res.headers['content-length'] ?? 0) || 0;
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          received += chunk.length;
          options.onDownload?.(received, total);
        });
        // Cut off mid-answer: the request may have been applied, so no other URL is tried.
        res.on('error', (err) => finish(new BrokerUnreachable([`${base}: ${err.message} while answering`])));
        res.on('aborted', () => finish(new BrokerUnreachable([`${base}: the answer was cut off`])));
        res.on('end', () =>
          finish(null, { status: res.statusCode ?? 0, text: Buffer.concat(chunks, received).toString('utf8') }),
        );
      });
      // One bound on the whole exchange: a broker that accepts but never answers counts as unreachable.
      let sent = false;
      req.on('finish', () => (sent = true));
      const timer = setTimeout(() => {
        const seconds = this.timeoutMs / 1000;
        if (answered) {
          finish(new BrokerUnreachable([`${base}: the answer did not complete within ${seconds} s`]));
        } else if (sent && method !== 'GET') {
          // A write that went out may be applied even though no answer came: sending it elsewhere could apply it twice.
          const note = `no answer within ${seconds} s to a ${method} that was sent; check whether it was applied`;
          finish(new BrokerUnreachable([`${base}: ${note}`]));
        } else {
          finish(new NoAnswer(`no answer within ${seconds} s`));
        }
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (answered) return finish(new BrokerUnreachable([`${base}: ${describeTransportError(err)} while answering`]));
        finish(new NoAnswer(describeTransportError(err), req.reusedSocket && err.code === 'ECONNRESET'));
      });
      if (body === undefined) {
        req.end();
        return;
      }
      writeBody(req, body, options.onUpload).catch((err: Error) => finish(new NoAnswer(err.message)));
    });
  }
}

/** An answer's JSON; anything else means --broker points at something that is not a broker. */
export function parseAnswer<T>(text: string, context: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UnexpectedAnswer(`${context}: the answer is not JSON (${JSON.stringify(text.slice(0, 80))})`);
  }
}

/** Writes a body in slices, reporting progress, waiting for the socket to drain between slices. */
async function writeBody(
  req: NodeJS.WritableStream,
  body: Buffer,
  onUpload?: (sent: number, total: number) => void,
): Promise<void> {
  const slice = 256 * 1024;
  if (onUpload === undefined || body.length <= slice) {
    req.end(body);
    return;
  }
  for (let at = 0; at < body.length; at += slice) {
    const end = Math.min(at + slice, body.length);
    const more = req.write(body.subarray(at, end));
    onUpload(end, body.length);
    if (!more) await new Promise<void>((resolve) => req.once('drain', () => resolve()));
  }
  req.end();
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Page size of the listings, as a coordinator pages them. */
export const PAGE_SIZE = 1000;

/** Every entry of a paged listing (`/clusters/names` -> names, `/proxies/addresses` -> addresses). */
export async function listAll(client: BrokerClient, path: string, key: 'names' | 'addresses'): Promise<string[]> {
  const all: string[] = [];
  for (let offset = 0; ; offset += PAGE_SIZE) {
    const page = await client.get<Record<string, string[]>>(`${path}?offset=${offset}&limit=${PAGE_SIZE}`);
    const entries = page[key] ?? [];
    // A broker that ignores limit answers everything at once: paging on would repeat it forever.
    if (entries.length > PAGE_SIZE) return offset === 0 ? entries : all;
    all.push(...entries);
    if (entries.length < PAGE_SIZE) return all;
  }
}

/**
 * Percent-encodes one path segment (names and addresses may hold any
 * character); ':' and '@' are legal in a segment and stay readable.
 */
export function seg(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%40/gi, '@');
}
