/**
 * The route table of undermoon's mem_broker API under /api/v2, and the
 * matcher, built once at load. Literal segments win over parameters, so
 * PUT /epoch/recovery is never taken for PUT /epoch/:new_epoch. A path that
 * matches no route for its method is NOT_FOUND, whatever other methods exist.
 */
import * as h from './handlers.js';
import type { Handler } from './handlers.js';
import { decodeParam } from './request.js';

export const API_PREFIX = '/api/v2';

/** Which body a route reads: none (any body is ignored), a JSON body, or the metadata document. */
export type BodyKind = 'none' | 'json' | 'metadata';

/**
 * Who may call a route when an api_token is set: the coordinator routes of
 * the Broker HTTP API stay open (coordinators send no token); every other
 * route needs `Authorization: Bearer <token>`.
 */
export type Access = 'open' | 'token';

export interface Route {
  readonly method: string;
  /** The full pattern, e.g. `/api/v2/clusters/meta/:name`; also the route's name in logs and metrics. */
  readonly pattern: string;
  readonly body: BodyKind;
  readonly handler: Handler;
  readonly access: Access;
  /** For plain reads: the query, so a cached answer can be written at once. */
  readonly read?: h.ReadQuery;
  /** A write: in etcd mode a follower forwards it to the leader. */
  readonly write: boolean;
}

/** Routes that are not GET but change nothing. */
const READ_ONLY_POSTS = new Set(['/resources/failures/check']);

function route(
  method: string,
  path: string,
  body: BodyKind,
  handler: Handler,
  access: Access = 'token',
  read?: h.ReadQuery,
): Route {
  const write = method !== 'GET' && !READ_ONLY_POSTS.has(path);
  const base = { method, pattern: API_PREFIX + path, body, handler, access, write };
  return read ? { ...base, read } : base;
}

export const ROUTES: readonly Route[] = [
  route('GET', '/version', 'none', h.getVersion),
  route('GET', '/metadata', 'none', h.getMetadata, 'token', h.READS.metadata),
  route('PUT', '/metadata', 'metadata', h.restoreMetadata),
  // The Broker HTTP API the coordinators use.
  route('GET', '/clusters/names', 'none', h.getClusterNames, 'open', h.READS.clusterNames),
  route('GET', '/clusters/meta/:name', 'none', h.getClusterMeta, 'open', h.READS.clusterMeta),
  route('GET', '/proxies/addresses', 'none', h.getProxyAddresses, 'open', h.READS.proxyAddresses),
  route('GET', '/proxies/meta/:address', 'none', h.getProxyMeta, 'open', h.READS.proxyMeta),
  route('GET', '/failures', 'none', h.getFailures, 'open', h.READS.failures),
  route('POST', '/failures/:address/:reporter', 'none', h.addFailure, 'open'),
  route('POST', '/proxies/failover/:address', 'none', h.failover, 'open'),
  route('PUT', '/clusters/migrations', 'json', h.commitMigration, 'open'),
  route('GET', '/proxies/failed/addresses', 'none', h.getFailedProxies, 'open', h.READS.failedProxies),
  // The Memory Broker API additions.
  route('POST', '/clusters/meta/:name', 'json', h.addCluster),
  route('DELETE', '/clusters/meta/:name', 'none', h.removeCluster),
  route('PATCH', '/clusters/nodes/:name', 'json', h.addNodes),
  route('PUT', '/clusters/nodes/:name', 'json', h.scaleNodes),
  route('DELETE', '/clusters/free_nodes/:name', 'none', h.deleteFreeNodes),
  route('POST', '/clusters/migrations/shrink/:name/:node_number', 'none', h.shrink),
  route('POST', '/clusters/migrations/expand/:name', 'none', h.expand),
  route('PATCH', '/clusters/config/:name', 'json', h.changeConfig),
  route('PUT', '/clusters/balance/:name', 'none', h.balanceMasters),
  route('POST', '/proxies/meta', 'json', h.addProxy),
  route('DELETE', '/proxies/meta/:address', 'none', h.removeProxy),
  route('POST', '/resources/failures/check', 'none', h.checkResources),
  route('PUT', '/epoch/recovery', 'none', h.recoverEpoch),
  route('PUT', '/epoch/:new_epoch', 'none', h.forceEpoch),
  // Ours: Prometheus metrics.
  route('GET', '/metrics', 'none', h.getMetrics),
];

interface Compiled {
  readonly route: Route;
  /** Per segment: the literal text, or null for a parameter. */
  readonly literals: readonly (string | null)[];
  readonly names: readonly string[];
}

function compile(r: Route): Compiled {
  const segments = r.pattern.split('/').slice(1);
  return {
    route: r,
    literals: segments.map((s) => (s.startsWith(':') ? null : s)),
    names: segments.filter((s) => s.startsWith(':')).map((s) => s.slice(1)),
  };
}

/** Literal segments outrank parameters, leftmost first. */
function specificity(c: Compiled): string {
  return c.literals.map((l) => (l === null ? '1' : '0')).join('');
}

export interface RouteMatch {
  readonly route: Route;
  /** Raw (still percent-encoded) parameter values by name. */
  readonly rawParams: Readonly<Record<string, string>>;
}

export type Matcher = (method: string, path: string) => RouteMatch | null;

/**
 * A matcher over a route table, whatever its order. Parameters must be
 * non-empty, as in the reference's path filters.
 */
export function createMatcher(routes: readonly Route[]): Matcher {
  // method -> segment count -> candidates, most specific first
  const table = new Map<string, Map<number, Compiled[]>>();
  for (const compiled of routes.map(compile)) {
    let bySize = table.get(compiled.route.method);
    if (!bySize) table.set(compiled.route.method, (bySize = new Map<number, Compiled[]>()));
    const list = bySize.get(compiled.literals.length) ?? [];
    list.push(compiled);
    bySize.set(compiled.literals.length, list);
  }
  for (const bySize of table.values()) {
    for (const list of bySize.values()) list.sort((a, b) => specificity(a).localeCompare(specificity(b)));
  }

  return (method, path) => {
    const bySize = table.get(method);
    if (!bySize || !path.startsWith('/')) return null;
    const segments = path.split('/').slice(1);
    const candidates = bySize.get(segments.length);
    if (!candidates) return null;
    for (const c of candidates) {
      const values: string[] = [];
      let ok = true;
      for (let i = 0; i < segments.length; i++) {
        const literal = c.literals[i];
        const seg = segments[i]!;
        if (literal === null ? seg === '' : literal !== seg) {
          ok = false;
          break;
        }
        if (literal === null) values.push(seg);
      }
      if (!ok) continue;
      const rawParams: Record<string, string> = {};
      c.names.forEach((name, i) => (rawParams[name] = values[i]!));
      return { route: c.route, rawParams };
    }
    return null;
  };
}

/** The route for a method and raw path in the mem_broker table, or null. */
export const matchRoute: Matcher = createMatcher(ROUTES);

/** Percent-decodes every parameter; malformed encoding is INVALID_REQUEST. */
export function decodeParams(raw: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) out[name] = decodeParam(name, value);
  return out;
}
