/**
 * Requests as plain data for the handlers, the parsers of their parts, and
 * the uWS side of a request: abort tracking and the capped body reader.
 * Every parse failure is a BrokerError INVALID_REQUEST with a message.
 */
import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';
import { BrokerError } from '../domain/errors.js';
import type { BodyTicket } from './limits.js';

/** What a handler sees; copied out of uWS's HttpRequest before any await. */
export interface ParsedRequest {
  readonly method: string;
  /** Raw path, without the query string. */
  readonly path: string;
  /** Path parameters by name, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Raw query string, without '?'. */
  readonly query: string;
  /** The body bytes for routes that take one, else null. */
  readonly body: Uint8Array | null;
}

function invalid(message: string): BrokerError {
  return new BrokerError('INVALID_REQUEST', message);
}

export function decodeParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalid(`path parameter ${name}: malformed percent-encoding`);
  }
}

export interface Page {
  readonly offset?: number;
  readonly limit?: number;
}

const DECIMAL = /^[0-9]+$/;

function parseCount(name: string, raw: string): number {
  const n = Number(raw);
  if (!DECIMAL.test(raw) || !Number.isSafeInteger(n))
    throw invalid(`query parameter ${name}: must be a non-negative integer`);
  return n;
}

/** `offset` and `limit`, each optional; other parameters are ignored. */
export function parsePage(query: string): Page {
  const params = new URLSearchParams(query);
  const page: { offset?: number; limit?: number } = {};
  for (const name of ['offset', 'limit'] as const) {
    const values = params.getAll(name);
    if (values.length > 1) throw invalid(`query parameter ${name}: given more than once`);
    if (values.length === 1) page[name] = parseCount(name, values[0]!);
  }
  return page;
}

/** A non-negative decimal integer path parameter; undermoon's are unsigned, so a sign is malformed input. */
export function parseCountParam(name: string, value: string): number {
  const n = Number(value);
  if (!DECIMAL.test(value) || !Number.isSafeInteger(n)) {
    throw invalid(
      `path parameter ${name}: must be a non-negative decimal integer of at most ${Number.MAX_SAFE_INTEGER}`,
    );
  }
  return n;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as JSON; a missing, non-UTF-8 or malformed body is INVALID_REQUEST. */
export function parseJsonBody(body: Uint8Array | null): unknown {
  if (body === null || body.byteLength === 0) throw invalid('a JSON body is required');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw invalid('the body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalid(`malformed JSON: ${(err as Error).message}`);
  }
}

/** True when a Content-Length header announces more than `limit` bytes. */
export function announcedTooLarge(contentLength: string, limit: number): boolean {
  return DECIMAL.test(contentLength) && Number(contentLength) > limit;
}

/**
 * One in-flight uWS response. It must be created in the synchronous part of
 * the handler: uWS requires onAborted before the handler returns, and the
 * response must not be touched once aborted.
 */
export class Exchange {
  aborted = false;
  private onAbort: (() => void) | null = null;

  constructor(private readonly res: HttpResponse) {
    res.onAborted(() => {
      this.aborted = true;
      this.onAbort?.();
    });
  }

  /**
   * Collects the body, copying each chunk (uWS neuters them on return).
   * Rejects with BODY_TOO_LARGE as soon as more than `limit` bytes arrive,
   * and with SERVICE_BUSY when the bytes would pass the cap on bodies in
   * flight; later chunks are dropped while uWS discards the rest of the body.
   * A body announced by Content-Length is copied straight into one buffer of
   * that size, which owns its memory (it can be transferred to a thread).
   *
   * Deadlines: the connection is cut when no byte came for `idleMs`, or when,
   * past the first `idleMs`, the body has averaged fewer than
   * `minBytesPerSecond` (0: no minimum rate).
   */
  readBody(limit: number, options: BodyOptions): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const { idleMs, minBytesPerSecond, announced, ticket } = options;
      const whole = announced > 0 && announced <= limit ? Buffer.allocUnsafeSlow(announced) : null;
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const startedAt = performance.now();
      let lastByteAt = startedAt;
      let timer: NodeJS.Timeout | null = null;
      const cut = (reason: string) => {
        settle();
        this.aborted = true;
        this.res.close();
        reject(new Error(reason));
      };
      const check = (due: number) => {
        timer = null;
        if (settled || this.aborted) return;
        const now = performance.now();
        // Fired late: the event loop was busy, and bytes that arrived meanwhile
        // are not counted yet. Let their callbacks run before judging.
        if (now - due > 250) return arm(now + 50);
        if (now - lastByteAt >= idleMs) return cut('request body idle');
        const graceOver = now - startedAt - idleMs;
        if (minBytesPerSecond > 0 && graceOver > 0 && size < (graceOver / 1000) * minBytesPerSecond)
          return cut('request body too slow');
        arm(now + Math.min(idleMs, 1000));
      };
      const arm = (due: number) => {
        timer = setTimeout(() => check(due), Math.max(0, due - performance.now()));
      };
      const settle = () => {
        settled = true;
        if (timer !== null) clearTimeout(timer);
      };
      arm(startedAt + Math.min(idleMs, 1000));
      this.onAbort = () => {
        settle();
        reject(new Error('request aborted'));
      };
      this.res.onData((chunk, isLast) => {
        if (settled) return;
        lastByteAt = performance.now();
        const length = chunk.byteLength;
        if (size + length > limit) {
          settle();
          reject(new BrokerError('BODY_TOO_LARGE'));
          return;
        }
        if (whole !== null && size + length <= whole.length) {
          whole.set(new Uint8Array(chunk), size);
        } else {
          // Counted as it comes when no length was announced.
          if (!ticket.grow(length)) {
            settle();
            reject(new BrokerError('SERVICE_BUSY', 'too many request body bytes in flight; retry'));
            return;
          }
          chunks.push(Buffer.from(chunk.slice(0)));
        }
        size += length;
        if (isLast) {
          settle();
          if (whole !== null && chunks.length === 0) resolve(size === whole.length ? whole : whole.subarray(0, size));
          else
            resolve(
              Buffer.concat(
                whole === null ? chunks : [whole.subarray(0, Math.min(size, whole.length)), ...chunks],
                size,
              ),
            );
        }
      });
    });
  }
}

export interface BodyOptions {
  readonly idleMs: number;
  readonly minBytesPerSecond: number;
  /** Content-Length, or 0 when not given. */
  readonly announced: number;
  readonly ticket: BodyTicket;
}
