/**
 * Helpers for the HTTP tests: a real server on an ephemeral port in front
 * of a fresh LocalBackend (or any Backend, or the real ThreadedBackend),
 * and a small fetch wrapper.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyStore } from '../../src/domain/store.js';
import type { FetchProxyEpochs, RenderMetrics } from '../../src/http/handlers.js';
import { startServer } from '../../src/http/server.js';
import type { RequestInfo, RunningServer } from '../../src/http/server.js';
import type { Logger } from '../../src/log.js';
import type { ReadSettings } from '../../src/rpc/messages.js';
import { ThreadedBackend } from '../../src/frontend/threaded-backend.js';
import type { ThreadedOptions } from '../../src/frontend/threaded-backend.js';
import { LocalBackend } from './local-backend.js';
import type { Backend } from '../../src/rpc/backend.js';
import { sharedEtcdCluster } from './etcd-cluster.js';

export const SETTINGS: ReadSettings = { failureTtl: 60, failureQuorum: 1, migrationLimit: 1 };

export interface TestServerOptions {
  readonly backend?: Backend;
  readonly settings?: Partial<ReadSettings>;
  readonly maxBodyBytes?: number;
  readonly maxMetadataBodyBytes?: number;
  readonly fetchProxyEpochs?: FetchProxyEpochs;
  readonly apiToken?: string;
  readonly bodyTimeoutSeconds?: number;
  readonly minBodyBytesPerSecond?: number;
  readonly maxBodyBytesInFlight?: number;
  readonly renderMetrics?: RenderMetrics;
  readonly log?: Logger;
}

export interface TestServer {
  /** `http://127.0.0.1:<port>/api/v2` */
  readonly api: string;
  readonly origin: string;
  readonly backend: Backend;
  readonly server: RunningServer;
  /** Every request the server reported through onRequest, in order. */
  readonly requests: RequestInfo[];
  close(): Promise<void>;
}

/**
 * Which backend the suites that use withServer() run against: the
 * in-process LocalBackend (default), the production ThreadedBackend, or the
 * ThreadedBackend over a real etcd (test/matrix runs the suites each way).
 */
export type BackendKind = 'local' | 'threaded' | 'etcd';

let backendKind: BackendKind = 'local';

export function useBackend(kind: BackendKind): void {
  backendKind = kind;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  if (options.backend === undefined && backendKind !== 'local') return startThreadedTestServer(options);
  const backend = options.backend ?? new LocalBackend(emptyStore(), { ...SETTINGS, ...options.settings });
  const requests: RequestInfo[] = [];
  const server = await startServer({
    backend,
    host: '127.0.0.1',
    port: 0,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.maxMetadataBodyBytes === undefined ? {} : { maxMetadataBodyBytes: options.maxMetadataBodyBytes }),
    ...(options.fetchProxyEpochs === undefined ? {} : { fetchProxyEpochs: options.fetchProxyEpochs }),
    ...(options.apiToken === undefined ? {} : { apiToken: options.apiToken }),
    ...(options.bodyTimeoutSeconds === undefined ? {} : { bodyTimeoutSeconds: options.bodyTimeoutSeconds }),
    ...(options.minBodyBytesPerSecond === undefined ? {} : { minBodyBytesPerSecond: options.minBodyBytesPerSecond }),
    ...(options.maxBodyBytesInFlight === undefined ? {} : { maxBodyBytesInFlight: options.maxBodyBytesInFlight }),
    ...(options.renderMetrics === undefined ? {} : { renderMetrics: options.renderMetrics }),
    ...(options.log === undefined ? {} : { log: options.log }),
    onRequest: (info) => requests.push(info),
  });
  const origin = `http://127.0.0.1:${server.port}`;
  return {
    api: `${origin}/api/v2`,
    origin,
    backend,
    server,
    requests,
    async close() {
      await server.close();
      await backend.close();
    },
  };
}

/** ThreadedBackend options for tests: no file written unless asked, 2 readers. */
export function threadedTestOptions(metaFilename: string, overrides: Partial<ThreadedOptions> = {}): ThreadedOptions {
  return {
    settings: SETTINGS,
    metaFilename,
    recoverFromMetaFile: false,
    autoUpdateMetaFile: false,
    updateMetaFileIntervalSec: 0,
    replicaAddresses: [],
    syncMetaIntervalSec: 0,
    apiToken: '',
    debug: false,
    readerThreads: 2,
    ...overrides,
  };
}

/**
 * The production pairing: the server in front of a ThreadedBackend (owner
 * thread and reader pool, 2 readers), with no metadata file written.
 */
export async function startThreadedTestServer(
  options: Omit<TestServerOptions, 'backend'> & { readonly threaded?: Partial<ThreadedOptions> } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'metabroker-http-'));
  const etcd = backendKind === 'etcd' ? { etcd: await etcdTestOptions() } : {};
  const backend = await ThreadedBackend.start(
    threadedTestOptions(join(dir, 'metadata'), {
      settings: { ...SETTINGS, ...options.settings },
      ...etcd,
      ...options.threaded,
    }),
  );
  let s: TestServer;
  try {
    if (backendKind === 'etcd') await waitUntilLeader(backend);
    s = await startTestServer({ ...options, backend });
  } catch (err) {
    await backend.close();
    throw err;
  }
  return {
    ...s,
    async close() {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let prefixes = 0;

/** etcd options for one test server: the process's shared etcd, a prefix of its own. */
async function etcdTestOptions(): Promise<NonNullable<ThreadedOptions['etcd']>> {
  const cluster = await sharedEtcdCluster();
  const prefix = `/test-${process.pid}-${++prefixes}/`;
  return {
    endpoints: cluster.endpoints,
    prefix,
    leaseTtlSeconds: 5,
    timeoutMs: 5000,
    maxTxnOps: 128,
    brokerId: `test-${prefix}`,
    advertiseUrl: 'http://127.0.0.1:1',
  };
}

/** A lone broker over etcd elects itself; writes before that would answer NO_LEADER. */
async function waitUntilLeader(backend: ThreadedBackend): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!backend.writeTarget().local) {
    if (Date.now() > deadline) throw new Error('the test broker did not become the etcd leader within 15 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `fn` against a fresh server and always closes it. */
export async function withServer<T>(fn: (s: TestServer) => Promise<T>, options?: TestServerOptions): Promise<T> {
  const s = await startTestServer(options);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly text: string;
  /** The body parsed as JSON (throws if it is not JSON). */
  readonly json: unknown;
}

/** A string body is sent as is; anything else is sent as JSON. */
export async function call(
  s: TestServer,
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<Answer> {
  const init: RequestInit = { method, ...(headers === undefined ? {} : { headers }) };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(s.api + path, init);
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    text,
    get json(): unknown {
      return JSON.parse(text) as unknown;
    },
  };
}

/** Asserts an empty-bodied 200. */
export async function ok(s: TestServer, method: string, path: string, body?: unknown): Promise<void> {
  const a = await call(s, method, path, body);
  assert.equal(a.status, 200, `${method} ${path}: ${a.status} ${a.text}`);
  assert.equal(a.text, '', `${method} ${path} answers an empty body`);
}

/** Asserts a 200 JSON answer and returns its value. */
export async function okJson(s: TestServer, method: string, path: string, body?: unknown): Promise<unknown> {
  const a = await call(s, method, path, body);
  assert.equal(a.status, 200, `${method} ${path}: ${a.status} ${a.text}`);
  assert.equal(a.contentType, 'application/json');
  return a.json;
}

/** Asserts an error answer: its status and exact JSON body. */
export async function fails(
  s: TestServer,
  method: string,
  path: string,
  body: unknown,
  status: number,
  expected: Record<string, unknown>,
): Promise<void> {
  const a = await call(s, method, path, body);
  assert.equal(a.status, status, `${method} ${path}: ${a.status} ${a.text}`);
  assert.equal(a.contentType, 'application/json');
  assert.deepEqual(a.json, expected, `${method} ${path}`);
}

/** Asserts an error answer with just `{"error": code}`. */
export function failsWith(
  s: TestServer,
  method: string,
  path: string,
  body: unknown,
  status: number,
  code: string,
): Promise<void> {
  return fails(s, method, path, body, status, { error: code });
}

/** Asserts INVALID_REQUEST and that its message mentions `mentions`. */
export async function invalidRequest(
  s: TestServer,
  method: string,
  path: string,
  body: unknown,
  mentions: string | RegExp,
): Promise<void> {
  const a = await call(s, method, path, body);
  assert.equal(a.status, 400, `${method} ${path}: ${a.status} ${a.text}`);
  const json = a.json as { error: string; message: string };
  assert.deepEqual(Object.keys(json).sort(), ['error', 'message']);
  assert.equal(json.error, 'INVALID_REQUEST');
  if (typeof mentions === 'string')
    assert.ok(json.message.includes(mentions), `message ${JSON.stringify(json.message)} mentions ${mentions}`);
  else assert.match(json.message, mentions);
}

export function proxyAddr(host: number, index: number): string {
  return `127.0.0.${host}:${7000 + index}`;
}

export function proxyBody(
  host: number,
  index: number,
): { proxy_address: string; nodes: [string, string]; host: string } {
  return {
    proxy_address: proxyAddr(host, index),
    nodes: [`127.0.0.${host}:${6000 + index * 2}`, `127.0.0.${host}:${6000 + index * 2 + 1}`],
    host: `host${host}`,
  };
}

/** Registers proxies 127.0.0.<h>:70<i> on hosts host<h>, through the API. */
export async function addProxies(s: TestServer, hosts: number, perHost: number): Promise<void> {
  for (let h = 1; h <= hosts; h++) {
    for (let i = 1; i <= perHost; i++) await ok(s, 'POST', '/proxies/meta', proxyBody(h, i));
  }
}

export async function metadataText(s: TestServer): Promise<string> {
  const a = await call(s, 'GET', '/metadata');
  assert.equal(a.status, 200);
  return a.text;
}

/** Percent-encodes a path parameter the way a careful client does. */
export function enc(value: string): string {
  return encodeURIComponent(value);
}
