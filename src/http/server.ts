/**
 * The uWebSockets.js glue: one catch-all handler that copies the request
 * out of uWS, matches the route table, reads a capped body and writes the
 * handler's reply. uWS rules kept here: HttpRequest is read synchronously
 * only; onAborted is attached before any await; a response is written
 * corked, and never after an abort.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import uWS from '@trufflesuite/uws-js-unofficial';
import type { HttpRequest, HttpResponse, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import type { Backend } from '../rpc/backend.js';
import { createLogger } from '../log.js';
import type { Logger } from '../log.js';
import { createDeps, runHandler } from './handlers.js';
import type { FetchProxyEpochs, RenderMetrics } from './handlers.js';
import type { QueryReply } from '../rpc/messages.js';
import { codeReply, jsonTextReply, NOT_FOUND_REPLY, replyForThrown, writeReply } from './reply.js';
import type { Reply } from './reply.js';
import { announcedTooLarge, Exchange } from './request.js';
import { BodyLimits, isTicket } from './limits.js';
import type { BodyTicket } from './limits.js';
import { FORWARDED_HEADER, forwardToLeader } from './forward.js';
import { registerFastReads } from './fast-reads.js';
import { decodeParams, matchRoute, ROUTES } from './routes.js';
import type { Route } from './routes.js';

export const DEFAULT_MAX_BODY_BYTES = 1 << 20;
/** uWS's LIBUS_LISTEN_EXCLUSIVE_PORT. */
const EXCLUSIVE_PORT = 1;
export const DEFAULT_MAX_METADATA_BODY_BYTES = 256 << 20;
export const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT = 320 << 20;
export const DEFAULT_MIN_BODY_BYTES_PER_SECOND = 1 << 20;

export interface RequestInfo {
  readonly method: string;
  /** The route pattern, or '*' when no route matched. */
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  /** The client went away before the answer: it was not sent. */
  readonly aborted?: boolean;
}

export interface ServerOptions {
  readonly backend: Backend;
  readonly host: string;
  /** 0 picks an ephemeral port; the real one is in the result. */
  readonly port: number;
  readonly maxBodyBytes?: number;
  readonly maxMetadataBodyBytes?: number;
  readonly fetchProxyEpochs?: FetchProxyEpochs;
  readonly renderMetrics?: RenderMetrics;
  /** When non-empty, every route but the coordinators' needs `Authorization: Bearer <token>`. */
  readonly apiToken?: string;
  /**
   * Seconds a request body may go without a byte before the connection is
   * cut. (uWebSockets.js itself closes connections idle, or stuck in their
   * headers, for 10 seconds.)
   */
  readonly bodyTimeoutSeconds?: number;
  /** Past its first bodyTimeoutSeconds, a body slower than this on average is cut off; 0: no minimum. */
  readonly minBodyBytesPerSecond?: number;
  /** Bytes of all request bodies held at once; a body that would pass it is answered 503 at once. */
  readonly maxBodyBytesInFlight?: number;
  /** etcd mode: how long a forwarded write may take at the leader. */
  readonly forwardTimeoutMs?: number;
  /** The broker's logger; the HTTP layer logs its own failures through it. */
  readonly log?: Logger;
  /**
   * Called once per request handled: answered, or applied while its client
   * went away (`aborted`). Not for requests cut off before their body arrived.
   */
  readonly onRequest?: (info: RequestInfo) => void;
  /** Counts and times every answered request; cheaper than onRequest on the cached read path. */
  readonly requestMetrics?: RequestRecorder;
}

/** Where request counts and latencies go: one recorder per (method, route pattern, status). */
export interface RequestRecorder {
  series(method: string, route: string, status: number): (seconds: number) => void;
}

export interface RunningServer {
  readonly port: number;
  /**
   * Stops accepting connections, waits for the requests in flight to be
   * answered, then closes the remaining idle connections.
   */
  close(): Promise<void>;
}

/**
 * Checks an Authorization header: the `Bearer` scheme, whose name is
 * case-insensitive (RFC 9110 11.1), then the token, compared in constant time.
 */
function tokenChecker(token: string): (authorization: string) => boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  const expected = digest(token);
  return (authorization) => {
    const presented = /^bearer +(.*)$/i.exec(authorization)?.[1];
    return presented !== undefined && timingSafeEqual(digest(presented), expected);
  };
}

export function startServer(options: ServerOptions): Promise<RunningServer> {
  const log: Logger = options.log ?? createLogger({ debug: false });
  const deps = createDeps(options.backend, log, options.fetchProxyEpochs, options.renderMetrics);
  const authorized = options.apiToken ? tokenChecker(options.apiToken) : null;
  const bodyTimeoutMs = (options.bodyTimeoutSeconds ?? 10) * 1000;
  const cached = options.backend.cached?.bind(options.backend);
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxMetadataBody = options.maxMetadataBodyBytes ?? DEFAULT_MAX_METADATA_BODY_BYTES;
  const limits = new BodyLimits(options.maxBodyBytesInFlight ?? DEFAULT_MAX_BODY_BYTES_IN_FLIGHT);
  const minBodyRate = options.minBodyBytesPerSecond ?? DEFAULT_MIN_BODY_BYTES_PER_SECOND;
  let inFlight = 0;
  let drained: (() => void) | null = null;
  // Set once close() starts: keep-alive clients could otherwise keep a
  // stopping broker busy for ever with new requests.
  let stopping = false;

  const report = (method: string, route: string, status: number, started: number, aborted = false) => {
    const ms = performance.now() - started;
    options.requestMetrics?.series(method, route, status)(ms / 1000);
    notify(method, route, status, ms, aborted);
  };
  const notify = (method: string, route: string, status: number, ms: number, aborted = false) => {
    if (!options.onRequest) return;
    try {
      options.onRequest(aborted ? { method, route, status, ms, aborted } : { method, route, status, ms });
    } catch (err) {
      log.error({ err: String(err) }, 'onRequest threw');
    }
  };

  /** Answers inside the handler's synchronous part, where uWS is already corked. */
  const answerNow = (res: HttpResponse, reply: Reply, method: string, route: string, started: number) => {
    writeReply(res, reply, method);
    report(method, route, reply.status, started);
  };

  const serve = (res: HttpResponse, req: HttpRequest, method: string) => {
    const started = performance.now();
    const path = req.getUrl();
    const query = req.getQuery() ?? '';
    const contentLength = req.getHeader('content-length');
    const presentedAuthorization = req.getHeader('authorization');
    const authorization = authorized === null ? '' : presentedAuthorization;

    if (stopping) return answerNow(res, codeReply('SERVICE_BUSY', 'the broker is stopping'), method, '*', started);
    // HEAD is GET without the body (writeReply leaves it out).
    const match = matchRoute(method === 'HEAD' ? 'GET' : method, path);
    if (!match) return answerNow(res, NOT_FOUND_REPLY, method, '*', started);
    const route: Route = match.route;
    if (authorized !== null && route.access === 'token' && !authorized(authorization)) {
      return answerNow(res, codeReply('UNAUTHORIZED'), method, route.pattern, started);
    }
    let params: Record<string, string>;
    try {
      params = decodeParams(match.rawParams);
    } catch (err) {
      return answerNow(res, replyForThrown(err, `${method} ${path}`, log), method, route.pattern, started);
    }
    if (route.read && cached) {
      // Steady polling: a fresh cached answer is written before this
      // callback returns, with no promise and no thread hop.
      let hit: QueryReply | null = null;
      try {
        hit = cached(route.read({ params, query }, deps.now()));
      } catch {
        // Bad input: the handler below answers it properly.
      }
      if (hit) return answerNow(res, jsonTextReply(hit.body), method, route.pattern, started);
    }
    const limit = route.body === 'metadata' ? maxMetadataBody : maxBody;
    if (route.body !== 'none' && announcedTooLarge(contentLength, limit)) {
      return answerNow(res, codeReply('BODY_TOO_LARGE'), method, route.pattern, started);
    }

    // etcd mode: a follower sends writes on to the leader (once: a forwarded
    // write is never forwarded again, the owner refuses it if leadership moved).
    const target =
      route.write && options.backend.writeTarget && req.getHeader(FORWARDED_HEADER) === ''
        ? options.backend.writeTarget()
        : null;
    if (target && !target.local && target.url === null)
      return answerNow(res, codeReply('NO_LEADER'), method, route.pattern, started);
    const forwardTo = target && !target.local ? target.url : null;
    const contentType = forwardTo === null ? '' : req.getHeader('content-type');

    let ticket: BodyTicket | null = null;
    const announced = /^[0-9]+$/.test(contentLength) ? Number(contentLength) : 0;
    if (route.body !== 'none') {
      const admitted = limits.admit(route.body === 'metadata', announced);
      if (!isTicket(admitted)) return answerNow(res, admitted, method, route.pattern, started);
      ticket = admitted;
    }
    const exchange = new Exchange(res);
    inFlight += 1;
    const body =
      ticket === null
        ? Promise.resolve(null)
        : exchange.readBody(limit, { idleMs: bodyTimeoutMs, minBytesPerSecond: minBodyRate, announced, ticket });
    const forward = async (bytes: Uint8Array | null, leaderUrl: string): Promise<Reply> => {
      const target = query === '' ? path : `${path}?${query}`;
      const reply = await forwardToLeader(
        leaderUrl,
        { method, target, contentType, authorization: presentedAuthorization, body: bytes },
        options.forwardTimeoutMs ?? 10_000,
      );
      if (reply.revision > 0) await options.backend.waitForRevision?.(reply.revision, 1000);
      return reply;
    };
    void body
      .then(
        (bytes) =>
          forwardTo !== null
            ? forward(bytes, forwardTo)
            : runHandler(route.handler, { method, path, params, query, body: bytes }, deps),
        (err: unknown) => (exchange.aborted ? null : replyForThrown(err, `${method} ${path}`, log)),
      )
      .then((reply) => {
        if (reply === null) return;
        // Handled while the client went away: not answered, but logged and counted.
        if (!exchange.aborted) res.cork(() => writeReply(res, reply, method));
        report(method, route.pattern, reply.status, started, exchange.aborted);
      })
      .catch((err: unknown) => log.error({ err: String(err) }, 'failed to write a reply'))
      .finally(() => {
        ticket?.release();
        inFlight -= 1;
        if (inFlight === 0) drained?.();
      });
  };

  const app = uWS.App();
  const { backend } = options;
  if (backend.cacheKey && backend.cachedAnswer && backend.freshBytes) {
    registerFastReads(app, ROUTES, {
      cacheKey: backend.cacheKey.bind(backend),
      cachedAnswer: backend.cachedAnswer.bind(backend),
      freshBytes: backend.freshBytes.bind(backend),
      stopping: () => stopping,
      now: deps.now,
      answered: (route) => {
        // Looked up once per route, not per request.
        const record = options.requestMetrics?.series('GET', route.pattern, 200);
        return (started) => {
          const ms = performance.now() - started;
          record?.(ms / 1000);
          notify('GET', route.pattern, 200, ms);
        };
      },
    });
  }
  app.any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod();
    try {
      serve(res, req, method);
    } catch (err) {
      // A throw escaping into uWS would take the process down; answer instead.
      log.error(
        { err: err instanceof Error ? (err.stack ?? err.message) : String(err) },
        'request handling failed; answered 500',
      );
      try {
        writeReply(res, codeReply('INTERNAL_ERROR'), method);
      } catch {
        // The response was already written or aborted: nothing more to do.
      }
    }
  });

  return new Promise((resolve, reject) => {
    // Exclusive: uWS would otherwise share the port (SO_REUSEPORT) with a broker already running there.
    const listen = app.listen.bind(app) as unknown as (
      host: string,
      port: number,
      exclusive: number,
      cb: (s: us_listen_socket | false) => void,
    ) => void;
    listen(options.host, options.port, EXCLUSIVE_PORT, (socket: us_listen_socket | false) => {
      if (!socket) {
        reject(new Error(`cannot listen on ${options.host}:${options.port}`));
        return;
      }
      let closing: Promise<void> | null = null;
      resolve({
        port: uWS.us_socket_local_port(socket),
        close() {
          stopping = true;
          closing ??= new Promise<void>((done) => {
            uWS.us_listen_socket_close(socket);
            if (inFlight === 0) done();
            else drained = done;
          }).then(() => {
            // Idle keep-alive connections would otherwise stay open (and keep
            // clients waiting on a dead server). uWS.js has app.close() for
            // that, though its typings omit it.
            (app as unknown as { close?: () => void }).close?.();
          });
          return closing;
        },
      });
    });
  });
}
