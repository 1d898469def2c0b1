import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { after, test } from 'node:test';
import { fetchProxyEpochs } from '../../src/recovery.js';
import { deadAddress } from '../helpers/ports.js';

interface FakeProxy {
  readonly address: string;
  /** Every byte the broker sent, per connection. */
  readonly received: string[];
}

const servers: { server: Server; sockets: Set<Socket> }[] = [];
after(async () => {
  for (const { server, sockets } of servers) {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/**
 * A RESP server on 127.0.0.1 that sends `reply` once it has read a whole
 * UMCTL GETEPOCH command; a null reply means it never answers, 'close' that it hangs up.
 */
/** `reply`: the bytes to answer with, null for silence, or 'close' to hang up. */
async function fakeProxy(reply: string | null): Promise<FakeProxy> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const index = received.push('') - 1;
    let answered = false;
    socket.on('data', (chunk) => {
      received[index] += chunk.toString('latin1');
      if (answered || reply === null || !received[index]!.includes('GETEPOCH\r\n')) return;
      answered = true;
      if (reply === 'close') socket.destroy();
      else socket.write(reply);
    });
  });
  servers.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const GETEPOCH_COMMAND = '*2\r\n$5\r\nUMCTL\r\n$8\r\nGETEPOCH\r\n';

test('fetchProxyEpochs: the largest integer wins; silent, garbage and refusing proxies are failed', async () => {
  const p42 = await fakeProxy(':42\r\n');
  const p7 = await fakeProxy(':7\r\n');
  const silent = await fakeProxy(null);
  const garbage = await fakeProxy('garbage\r\n');
  const refused = deadAddress();

  const result = await fetchProxyEpochs([silent.address, p42.address, garbage.address, p7.address, refused]);

  assert.equal(result.largest, 42);
  assert.deepEqual(result.failed, [silent.address, garbage.address, refused].sort());
  assert.ok(result.failed.includes(silent.address), 'a proxy that never answers is failed, not waited for');
  // Only the command itself: no HELLO, CLIENT SETINFO or INFO that a proxy would not understand.
  assert.deepEqual(p42.received, [GETEPOCH_COMMAND]);
  assert.deepEqual(silent.received, [GETEPOCH_COMMAND]);
});

test('fetchProxyEpochs: only a non-negative integer reply counts, as in the reference', async () => {
  const good = await fakeProxy(':5\r\n');
  const others = await Promise.all(
    [
      '-ERR unknown command\r\n', // error reply
      '$2\r\n42\r\n', // bulk string
      '+42\r\n', // simple string
      ':-3\r\n', // negative
      ':4x\r\n', // not digits
      ':99999999999999999999\r\n', // beyond 2^53
      '*1\r\n:42\r\n', // array
      '$-1\r\n', // nil
      'close', // hangs up
    ].map((reply) => fakeProxy(reply)),
  );
  const reasons = new Map<string, string>();
  const result = await fetchProxyEpochs(
    [good.address, ...others.map((p) => p.address), 'no-port'],
    1000,
    (address, reason) => reasons.set(address, reason),
  );
  assert.equal(result.largest, 5);
  assert.deepEqual(result.failed, [...others.map((p) => p.address), 'no-port'].sort());
  assert.deepEqual([...reasons.keys()].sort(), result.failed, 'every failure is reported with a reason');
  assert.match(reasons.get('no-port') ?? '', /host:port/);
});

test('fetchProxyEpochs: no proxies gives epoch 0 and no failures; all failing gives 0', async () => {
  assert.deepEqual(await fetchProxyEpochs([]), { largest: 0, failed: [] });
  const refused = deadAddress();
  assert.deepEqual(await fetchProxyEpochs([refused], 1000), { largest: 0, failed: [refused] });
});

test('fetchProxyEpochs: leaves no socket or timer open (a process using it exits by itself)', async () => {
  const silent = await fakeProxy(null);
  const ok = await fakeProxy(':3\r\n');
  const refused = deadAddress();
  const moduleUrl = new URL('../../src/recovery.js', import.meta.url).href;
  const addresses = [silent.address, ok.address, refused];
  const script = `
    const { fetchProxyEpochs } = await import(${JSON.stringify(moduleUrl)});
    console.log(JSON.stringify(await fetchProxyEpochs(${JSON.stringify(addresses)}, 300)));
  `;
  // The silent server keeps its side open, so a leaked client socket would
  // keep the child alive until this generous bound kills it.
  const outcome = await new Promise<{ code: number | null; killed: boolean; stdout: string; stderr: string }>(
    (resolve) => {
      const child = execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { timeout: 20_000 },
        (err, stdout, stderr) => {
          resolve({ code: child.exitCode, killed: err?.killed ?? false, stdout, stderr });
        },
      );
    },
  );
  assert.equal(outcome.killed, false, 'the child had to be killed: something stayed open');
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.deepEqual(JSON.parse(outcome.stdout), { largest: 3, failed: [silent.address, refused].sort() });
});
