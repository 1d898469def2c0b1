/**
 * The broker process: configuration, the owner thread and reader pool, the
 * HTTP server. SIGTERM or SIGINT stops accepting, finishes the writes in
 * flight, flushes the metadata file when configured, and exits 0.
 * Importing this module starts nothing; running it as the entry point does.
 */
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConfigError, describeConfig, loadConfig } from './config.js';
import type { BrokerConfig } from './config.js';
import { startServer } from './http/server.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { BrokerMetrics } from './metrics.js';
import { ThreadedBackend } from './frontend/threaded-backend.js';

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

async function run(config: BrokerConfig, log: Logger): Promise<void> {
  if (!config.apiToken && !isLoopback(config.host)) {
    log.warn(
      { address: config.address },
      'listening beyond loopback without api_token: anyone who can reach this port can change the metadata',
    );
  }
  const metrics = new BrokerMetrics();
  const backend = await ThreadedBackend.start({
    settings: {
      failureTtl: config.failureTtl,
      failureQuorum: config.failureQuorum,
      migrationLimit: config.migrationLimit,
    },
    metaFilename: config.metaFilename,
    recoverFromMetaFile: config.recoverFromMetaFile,
    autoUpdateMetaFile: config.autoUpdateMetaFile,
    updateMetaFileIntervalSec: config.updateMetaFileInterval,
    replicaAddresses: config.replicaAddresses,
    syncMetaIntervalSec: config.syncMetaInterval,
    apiToken: config.apiToken,
    debug: config.debug,
    readerThreads: config.readerThreads,
    etcd: config.storage === 'etcd' ? etcdOptions(config) : undefined,
    onEvent: (event) => {
      if (event.kind === 'metaFileWritten') metrics.observeMetaFileWrite(event.seconds);
      else if (event.kind === 'persistFailure') metrics.countMetaFileWriteFailure();
      else if (event.kind === 'replicationFailure') metrics.countReplicationFailure(event.address);
      else if (event.kind === 'etcdCommit') metrics.observeEtcdCommit(event.seconds);
      else if (event.kind === 'watchLag') metrics.setWatchLag(event.revisions, event.staleSeconds);
      else if (event.kind === 'role') {
        if (metrics.setRole(event.role))
          log.info({ role: event.role, leader: event.leader?.url ?? null }, 'role changed');
      }
    },
    onCommandTimings: (timings, roundTripMs) => {
      metrics.observeSnapshotPublish(timings.publishMs / 1000);
      metrics.observeOwnerRoundTrip(roundTripMs / 1000);
      metrics.observeCommand(timings);
    },
    // Without its owner the broker can answer reads but apply no write:
    // exit, so that the service manager restarts it (Restart=on-failure).
    onOwnerLost: (err) => {
      log.fatal({ err: err.message }, 'owner thread lost; exiting');
      process.exit(1);
    },
  });
  const server = await startServer({
    backend,
    host: config.host,
    port: config.port,
    maxMetadataBodyBytes: config.maxMetadataBodyBytes,
    maxBodyBytesInFlight: config.maxBodyBytesInFlight,
    minBodyBytesPerSecond: config.minBodyBytesPerSecond,
    bodyTimeoutSeconds: config.idleTimeoutSeconds,
    apiToken: config.apiToken,
    forwardTimeoutMs: config.etcdTimeoutMs * 3,
    log: log.child({ component: 'http' }),
    // The Redis client is loaded on first use: epoch recovery is rare.
    fetchProxyEpochs: async (addresses) => {
      const { fetchProxyEpochs } = await import('./recovery.js');
      return fetchProxyEpochs(addresses, 1000, (address, reason) =>
        log.warn({ proxy: address, reason }, 'proxy did not answer UMCTL GETEPOCH'),
      );
    },
    renderMetrics: async () => {
      metrics.setSnapshotGeneration(backend.generation());
      return { contentType: metrics.contentType, body: await metrics.render() };
    },
    requestMetrics: metrics.requests,
    onRequest: (info) => {
      // Reads come every second from every coordinator; only writes are logged, also those whose client left.
      if (info.method !== 'GET' && info.method !== 'HEAD') {
        const line = { method: info.method, route: info.route, status: info.status, ms: Number(info.ms.toFixed(3)) };
        log.info(info.aborted ? { ...line, aborted: true } : line, 'request');
      }
    },
  });
  log.info({ address: config.host, port: server.port }, 'listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new connections, finishing writes in flight');
    void (async () => {
      await server.close();
      await backend.close();
      log.info('stopped');
      process.exit(0);
    })().catch((err: unknown) => {
      log.error({ err: String(err) }, 'unclean stop');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** The owner thread's etcd settings; the broker's id is unique per process so a restart never mistakes an old leader key for its own. */
function etcdOptions(config: BrokerConfig) {
  return {
    endpoints: config.etcdEndpoints,
    prefix: config.etcdPrefix,
    leaseTtlSeconds: config.etcdLeaseTtl,
    timeoutMs: config.etcdTimeoutMs,
    maxTxnOps: config.etcdMaxTxnOps,
    brokerId: `${config.advertiseAddress}/${process.pid}-${randomBytes(4).toString('hex')}`,
    advertiseUrl: `http://${config.advertiseAddress}`,
    username: config.etcdUsername || undefined,
    password: config.etcdPassword || undefined,
    caFile: config.etcdCaFile || undefined,
    certFile: config.etcdCertFile || undefined,
    keyFile: config.etcdKeyFile || undefined,
  };
}

/**
 * Starts the broker with its command-line arguments (the config file, if
 * any): `node dist/src/main.js [config.toml]` and `metabroker serve`.
 * A configuration error exits 2; anything else that stops the start exits 1.
 */
export function serveBroker(args: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  let config: BrokerConfig;
  try {
    config = loadConfig(args, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`metabroker: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ debug: config.debug });
  log.info({ config: describeConfig(config) }, 'starting');
  run(config, log).catch((err: unknown) => {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'failed to start');
    process.exit(1);
  });
}

/** True when node was started on this file, not when the command line imports it. */
function isEntryPoint(): boolean {
  const started = process.argv[1];
  if (started === undefined) return false;
  try {
    return realpathSync(started) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) serveBroker(process.argv.slice(2));
