/**
 * The coordinators' steady polling, answered on uWS's own router: one
 * native GET route per cached read pattern writes a fresh cached answer,
 * already encoded, before the callback returns. Anything else (a miss, a
 * stopping broker, input the general handler must judge) yields, and uWS
 * hands the request on to the catch-all handler, which answers it fully.
 * Only open routes are served here: no token check on the hot path.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from '@trufflesuite/uws-js-unofficial';
import type { CachedAnswer } from '../rpc/backend.js';
import type { QueryRequest } from '../rpc/messages.js';
import type { Route } from './routes.js';

export interface FastReadOptions {
  /** The cache key of a read; null: its answer is never cached. */
  readonly cacheKey: (q: QueryRequest) => string | null;
  /** Where a fresh answer is cached under a key, or null. */
  readonly cachedAnswer: (key: string) => CachedAnswer | null;
  /** A cached answer's bytes while fresh (never empty: every read answers a JSON body), or null. */
  readonly freshBytes: (answer: CachedAnswer) => Uint8Array | null;
  readonly stopping: () => boolean;
  /** Unix seconds, as the general handler's. */
  readonly now: () => number;
  /** Records one answered request; `done` is called with the start time once the answer is written. */
  readonly answered: (route: Route) => (started: number) => void;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Raw request texts remembered per route, and the longest kept: a poller
 * asks for the same few thousand names every second. Cleared when full, so
 * any number of distinct names costs bounded memory.
 */
const MAX_REMEMBERED = 1 << 18;
const MAX_REMEMBERED_TEXT = 512;

/** A raw path parameter decoded as the general handler would, or null where it would refuse it. */
function decoded(raw: string): string | null {
  if (raw === '') return null;
  if (raw.indexOf('%') < 0) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/**
 * A route's parameter object, built with a literal shape where the name is
 * known: an object with a computed key is several times slower to create.
 */
function paramsOf(name: string): (value: string) => Record<string, string> {
  switch (name) {
    case 'name':
      return (value) => ({ name: value });
    case 'address':
      return (value) => ({ address: value });
    default:
      return (value) => ({ [name]: value });
  }
}

export function registerFastReads(app: TemplatedApp, routes: readonly Route[], options: FastReadOptions): void {
  const { cacheKey, cachedAnswer, freshBytes, stopping, now } = options;
  for (const route of routes) {
    const read = route.read;
    if (route.method !== 'GET' || read === undefined || route.access !== 'open') continue;
    const names = route.pattern
      .split('/')
      .filter((s) => s.startsWith(':'))
      .map((s) => s.slice(1));
    if (names.length > 1) continue;
    const params = names.length === 0 ? null : paramsOf(names[0]!);
    // Only the reads that take the time (the failure list) ask for it; their
    // key changes every second, so they are not remembered.
    const takesTime = read.length > 1;
    const done = options.answered(route);
    // One request at a time reaches this callback, and read() copies what
    // it needs: the query string is fetched from uWS only if read() asks.
    let current: HttpRequest | null = null;
    const request = {
      params: NO_PARAMS,
      get query(): string {
        return current?.getQuery() ?? '';
      },
    };
    /** The cache key of a request, or null where the general handler must judge it. */
    const keyOf = (req: HttpRequest): string | null => {
      if (params !== null) {
        const value = decoded(req.getParameter(0));
        if (value === null) return null;
        request.params = params(value);
      }
      current = req;
      try {
        return cacheKey(read(request, takesTime ? now() : 0));
      } catch {
        // Bad input: the general handler answers it properly.
        return null;
      } finally {
        current = null;
      }
    };
    // The raw text a route's answer depends on (its parameter, or its query
    // string) -> where its answer is cached, for requests answered from the
    // cache before: parsing, key building and the key look-up are skipped.
    const remembered = new Map<string, CachedAnswer>();
    app.get(route.pattern, (res: HttpResponse, req: HttpRequest) => {
      const started = performance.now();
      if (stopping()) return void req.setYield(true);
      const raw = takesTime ? null : params !== null ? req.getParameter(0) : (req.getQuery() ?? '');
      const known = raw === null ? undefined : remembered.get(raw);
      let bytes = known === undefined ? null : freshBytes(known);
      if (bytes === null) {
        const key = keyOf(req);
        const answer = key === null ? null : cachedAnswer(key);
        if (answer === null) return void req.setYield(true);
        bytes = freshBytes(answer);
        if (bytes === null) return void req.setYield(true);
        if (raw !== null && raw.length <= MAX_REMEMBERED_TEXT) {
          if (remembered.size >= MAX_REMEMBERED) remembered.clear();
          remembered.set(raw, answer);
        }
      }
      // 200 OK is what uWS writes when no status is set.
      res.writeHeader('Content-Type', 'application/json');
      res.end(bytes);
      done(started);
    });
  }
}
