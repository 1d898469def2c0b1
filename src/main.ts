/**
 * Temporary entry point: an in-process LocalBackend behind the HTTP server
 * on UNDERMOON_ADDRESS (default 127.0.0.1:7799). The integrator replaces it.
 */
import { emptyStore } from './domain/store.js';
import { startServer } from './http/server.js';
import { LocalBackend } from './service/backend.js';

const address = process.env.UNDERMOON_ADDRESS ?? '127.0.0.1:7799';
const colon = address.lastIndexOf(':');
const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
const port = Number(address.slice(colon + 1));
if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid UNDERMOON_ADDRESS: ${address}`);
  process.exit(2);
}

const backend = new LocalBackend(emptyStore(), { failureTtl: 60, failureQuorum: 1, migrationLimit: 1 });
const server = await startServer({ backend, host, port });
console.log(`metabroker listening on ${host}:${server.port}`);

const stop = () => {
  void server
    .close()
    .then(() => backend.close())
    .then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
