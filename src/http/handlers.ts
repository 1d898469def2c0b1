/**
 * One handler per route: `(ParsedRequest, deps) => Promise<Reply>`. Each
 * turns the request into one backend query or command and the answer into
 * a reply; the broker's rules all live behind the Backend. Handlers may
 * throw a BrokerError (bad input); runHandler turns any throw into a reply.
 */
import { UNDERMOON_API_VERSION } from '../domain/constants.js';
import type { Command } from '../domain/commands.js';
import type { CommandReply, QueryReply, QueryRequest } from '../rpc/messages.js';
import type { Backend } from '../rpc/backend.js';
import { codeReply, errorReply, jsonReply, jsonTextReply, replyForThrown, textReply } from './reply.js';
import type { BugLog } from './reply.js';
import type { Reply } from './reply.js';
import { parseCountParam, parseJsonBody, parsePage } from './request.js';
import type { ParsedRequest } from './request.js';
import { checkBody, toConfigChanges, toMetaDocument, toSlotRange } from '../wire/schemas.js';

export interface ProxyEpochs {
  /** The largest epoch any proxy answered (0 when none did). */
  readonly largest: number;
  /** Proxies that did not answer. */
  readonly failed: string[];
}

export type FetchProxyEpochs = (addresses: string[]) => Promise<ProxyEpochs>;

/** Renders the Prometheus text exposition. */
export type RenderMetrics = () => Promise<{ readonly contentType: string; readonly body: string }>;

export interface HandlerDeps {
  readonly backend: Backend;
  /** Where bugs are logged (the broker's logger). */
  readonly log: BugLog;
  /** Asks every proxy for its epoch (PUT /epoch/recovery); absent = none answers. */
  readonly fetchProxyEpochs?: FetchProxyEpochs | undefined;
  readonly renderMetrics?: RenderMetrics | undefined;
  /** Unix seconds. */
  readonly now: () => number;
  /**
   * The newest generation a write of this server was answered at. Reads ask
   * for at least this one, so a client always reads its own writes.
   */
  readonly seen: { generation: number };
}

export type Handler = (req: ParsedRequest, deps: HandlerDeps) => Promise<Reply>;

export function createDeps(
  backend: Backend,
  log: BugLog,
  fetchProxyEpochs?: FetchProxyEpochs,
  renderMetrics?: RenderMetrics,
): HandlerDeps {
  return {
    backend,
    log,
    fetchProxyEpochs,
    renderMetrics,
    now: () => Math.floor(Date.now() / 1000),
    seen: { generation: 0 },
  };
}

function query(deps: HandlerDeps, q: QueryRequest): Promise<QueryReply> {
  return deps.backend.query(q, Math.max(deps.seen.generation, deps.backend.generation()));
}

async function command(deps: HandlerDeps, cmd: Command): Promise<CommandReply> {
  const reply = await deps.backend.command(cmd);
  if (reply.generation > deps.seen.generation) deps.seen.generation = reply.generation;
  return reply;
}

async function read(deps: HandlerDeps, q: QueryRequest): Promise<Reply> {
  return jsonTextReply((await query(deps, q)).body);
}

async function write(deps: HandlerDeps, cmd: Command): Promise<Reply> {
  return answerOf(await command(deps, cmd));
}

function answerOf(reply: CommandReply): Reply {
  const answer = reply.ok ? jsonTextReply(reply.body) : errorReply(reply.error);
  return reply.revision ? { ...answer, revision: reply.revision } : answer;
}

function param(req: Pick<ParsedRequest, 'params'>, name: string): string {
  const value = req.params[name];
  // The route table guarantees every parameter its pattern names.
  if (value === undefined) throw new Error(`route has no parameter ${name}`);
  return value;
}

// ---- Reads ----

export const getVersion: Handler = async () => textReply(UNDERMOON_API_VERSION);

/** Builds the query of a plain read route; throws INVALID_REQUEST for bad input. */
export type ReadQuery = (req: Pick<ParsedRequest, 'params' | 'query'>, now: number) => QueryRequest;

/** The plain reads: each is one query whose answer is the whole body. */
export const READS = {
  metadata: (() => ({ name: 'metadata' })) as ReadQuery,
  clusterNames: ((req) => ({ name: 'clusterNames', ...parsePage(req.query) })) as ReadQuery,
  clusterMeta: ((req) => ({ name: 'clusterMeta', cluster: param(req, 'name') })) as ReadQuery,
  proxyAddresses: ((req) => ({ name: 'proxyAddresses', ...parsePage(req.query) })) as ReadQuery,
  proxyMeta: ((req) => ({ name: 'proxyMeta', address: param(req, 'address') })) as ReadQuery,
  failures: ((_req, now) => ({ name: 'failures', now })) as ReadQuery,
  failedProxies: (() => ({ name: 'failedProxies' })) as ReadQuery,
};

function readHandler(build: ReadQuery): Handler {
  return async (req, deps) => read(deps, build(req, deps.now()));
}

export const getMetadata = readHandler(READS.metadata);
export const getClusterNames = readHandler(READS.clusterNames);
export const getClusterMeta = readHandler(READS.clusterMeta);
export const getProxyAddresses = readHandler(READS.proxyAddresses);
export const getProxyMeta = readHandler(READS.proxyMeta);
export const getFailures = readHandler(READS.failures);
export const getFailedProxies = readHandler(READS.failedProxies);

export const getMetrics: Handler = async (_req, deps) => {
  if (!deps.renderMetrics) return codeReply('NOT_FOUND');
  const { contentType, body } = await deps.renderMetrics();
  return { status: 200, contentType, body };
};

/** A what-if over the live store; a read although it is a POST. */
export const checkResources: Handler = async (_req, deps) => read(deps, { name: 'checkResources' });

// ---- Writes ----

export const restoreMetadata: Handler = async (req, deps) => {
  if (deps.backend.restore && req.body !== null && req.body.byteLength > 0) {
    // Parsed and checked off this thread: a document may be hundreds of megabytes.
    const reply = await deps.backend.restore(req.body);
    if (reply.generation > deps.seen.generation) deps.seen.generation = reply.generation;
    return answerOf(reply);
  }
  const document = toMetaDocument(checkBody('metaDocument', parseJsonBody(req.body)));
  return write(deps, { kind: 'restore', document });
};

export const addFailure: Handler = async (req, deps) =>
  write(deps, { kind: 'addFailure', address: param(req, 'address'), reporter: param(req, 'reporter') });

export const failover: Handler = async (req, deps) => write(deps, { kind: 'failover', address: param(req, 'address') });

export const commitMigration: Handler = async (req, deps) => {
  const body = checkBody('commitMigration', parseJsonBody(req.body));
  return write(deps, {
    kind: 'commitMigration',
    cluster_name: body.cluster_name,
    slot_range: toSlotRange(body.slot_range),
  });
};

export const addCluster: Handler = async (req, deps) => {
  const body = checkBody('nodeNumber', parseJsonBody(req.body));
  return write(deps, { kind: 'addCluster', name: param(req, 'name'), nodeNumber: body.node_number });
};

export const removeCluster: Handler = async (req, deps) =>
  write(deps, { kind: 'removeCluster', name: param(req, 'name') });

export const addNodes: Handler = async (req, deps) => {
  const body = checkBody('nodeNumber', parseJsonBody(req.body));
  return write(deps, { kind: 'addNodes', name: param(req, 'name'), nodeNumber: body.node_number });
};

export const scaleNodes: Handler = async (req, deps) => {
  const body = checkBody('clusterNodeNumber', parseJsonBody(req.body));
  return write(deps, { kind: 'scaleNodes', name: param(req, 'name'), clusterNodeNumber: body.cluster_node_number });
};

export const deleteFreeNodes: Handler = async (req, deps) =>
  write(deps, { kind: 'deleteFreeNodes', name: param(req, 'name') });

export const shrink: Handler = async (req, deps) => {
  const nodeNumber = parseCountParam('node_number', param(req, 'node_number'));
  return write(deps, { kind: 'shrink', name: param(req, 'name'), nodeNumber });
};

export const expand: Handler = async (req, deps) => write(deps, { kind: 'expand', name: param(req, 'name') });

export const changeConfig: Handler = async (req, deps) => {
  const config = toConfigChanges(checkBody('changeConfig', parseJsonBody(req.body)));
  return write(deps, { kind: 'changeConfig', name: param(req, 'name'), config });
};

export const balanceMasters: Handler = async (req, deps) =>
  write(deps, { kind: 'balanceMasters', name: param(req, 'name') });

export const addProxy: Handler = async (req, deps) => {
  const body = checkBody('addProxy', parseJsonBody(req.body));
  return write(deps, {
    kind: 'addProxy',
    proxy_address: body.proxy_address,
    nodes: [body.nodes[0], body.nodes[1]],
    host: body.host ?? null,
  });
};

export const removeProxy: Handler = async (req, deps) =>
  write(deps, { kind: 'removeProxy', address: param(req, 'address') });

export const forceEpoch: Handler = async (req, deps) => {
  const epoch = parseCountParam('new_epoch', param(req, 'new_epoch'));
  return write(deps, { kind: 'forceEpoch', epoch });
};

/**
 * Asks every known proxy for its epoch, then moves every epoch past the
 * largest answer; lists the proxies that did not answer.
 */
export const recoverEpoch: Handler = async (_req, deps) => {
  const { addresses } = JSON.parse((await query(deps, { name: 'proxyAddresses' })).body) as { addresses: string[] };
  const epochs: ProxyEpochs = deps.fetchProxyEpochs
    ? await deps.fetchProxyEpochs(addresses)
    : { largest: 0, failed: addresses };
  if (!Number.isSafeInteger(epochs.largest) || epochs.largest < 0) {
    throw new Error(`fetchProxyEpochs answered an invalid largest epoch: ${epochs.largest}`);
  }
  const reply = await command(deps, { kind: 'recoverEpoch', largestProxyEpoch: epochs.largest });
  return reply.ok ? jsonReply({ failed_addresses: epochs.failed }) : errorReply(reply.error);
};

/** Runs a handler; never rejects. */
export async function runHandler(handler: Handler, req: ParsedRequest, deps: HandlerDeps): Promise<Reply> {
  try {
    return await handler(req, deps);
  } catch (err) {
    return replyForThrown(err, `${req.method} ${req.path}`, deps.log);
  }
}
