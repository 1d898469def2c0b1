/**
 * Configuration and start-up failures of the real process (docs/operations.md#configuration):
 * a bad setting stops the start with a non-zero status and a message that
 * names it; the deployed sample starts; a damaged metadata file stops the
 * start and is left exactly as it was.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, spawnBroker, startBroker, tempDir } from '../helpers/broker-process.js';
import type { SpawnOptions } from '../helpers/broker-process.js';

const EXIT_TIMEOUT_MS = 20_000;

/** Runs a start that must fail; returns its exit status and everything it printed. */
async function failedStart(options: SpawnOptions): Promise<{ code: number | null; output: string }> {
  const child = spawnBroker(options);
  const exit = await child.waitForExit(EXIT_TIMEOUT_MS);
  assert.equal(exit.signal, null, `exited by itself, not by a signal; ${child.describe()}`);
  assert.ok(!child.logs.some((l) => l.msg === 'listening'), `it never listened; ${child.describe()}`);
  return { code: exit.code, output: child.stderrText() + child.stdoutText() };
}

function tomlFile(text: string): string {
  const path = join(tempDir(), 'broker.toml');
  writeFileSync(path, text);
  return path;
}

const BAD_SETTINGS: { name: string; toml?: string; env?: Record<string, string | undefined>; mentions: string[] }[] = [
  {
    name: 'an unknown key in the file',
    toml: 'address = "127.0.0.1:0"\nfailure_tll = 60\n',
    mentions: ['"failure_tll"', 'unknown key'],
  },
  {
    name: 'a value of the wrong type in the file',
    toml: 'failure_ttl = "sixty"\n',
    mentions: ['"failure_ttl"', 'integer'],
  },
  {
    name: 'an invalid address in the file',
    toml: 'address = "localhost"\n',
    env: { UNDERMOON_ADDRESS: undefined },
    mentions: ['"address"', 'host:port'],
  },
  {
    name: 'an invalid address in the environment',
    env: { UNDERMOON_ADDRESS: '127.0.0.1:70000' },
    mentions: ['"address"', 'UNDERMOON_ADDRESS'],
  },
  {
    name: 'a boolean that is not one in the environment',
    env: { UNDERMOON_AUTO_UPDATE_META_FILE: 'yes' },
    mentions: ['"auto_update_meta_file"', 'true or false'],
  },
];

for (const c of BAD_SETTINGS) {
  test(`config: ${c.name} stops the start with a message naming the key`, { timeout: 30_000 }, async () => {
    const args = c.toml === undefined ? [] : [tomlFile(c.toml)];
    const { code, output } = await failedStart({ args, ...(c.env ? { env: c.env } : {}) });
    assert.notEqual(code, 0, output);
    for (const m of c.mentions) assert.ok(output.includes(m), `the message mentions ${m}: ${output}`);
  });
}

test('config: a missing config file stops the start with a message naming the file', { timeout: 30_000 }, async () => {
  const path = join(tempDir(), 'no-such.toml');
  const { code, output } = await failedStart({ args: [path] });
  assert.notEqual(code, 0, output);
  assert.ok(output.includes(path), output);
});

test(
  'config: the deployed sample starts (meta_filename moved by the environment) and persists writes',
  { timeout: 30_000 },
  async (t) => {
    const sample = join(repoRoot(), 'deploy', 'metabroker.toml');
    const metaFile = join(tempDir(), 'metadata');
    // The sample listens on the fixed 7799; the helper's default UNDERMOON_ADDRESS (port 0) overrides it.
    const broker = await startBroker({ args: [sample], env: { UNDERMOON_META_FILENAME: metaFile } });
    t.after(() => broker.kill());
    const starting = broker.logs.find((l) => l.msg === 'starting');
    assert.ok(starting, broker.describe());
    const config = starting.config as Record<string, unknown>;
    assert.equal(config.config_file, sample);
    assert.equal(config.meta_filename, metaFile);
    assert.equal(config.auto_update_meta_file, true, 'the sample turns persistence on');

    const answer = await broker.call('POST', '/proxies/meta', {
      proxy_address: '127.0.0.1:7001',
      nodes: ['127.0.0.1:6001', '127.0.0.1:6002'],
    });
    assert.equal(answer.status, 200, answer.text);
    const onDisk = JSON.parse(readFileSync(metaFile, 'utf8')) as { all_proxies: object };
    assert.ok(Object.hasOwn(onDisk.all_proxies, '127.0.0.1:7001'), 'the answered write is on disk');
    assert.deepEqual(await broker.stop(), { code: 0, signal: null });
  },
);

const DAMAGED_FILES: { name: string; bytes: Buffer; mentions: string[] }[] = [
  {
    name: 'truncated JSON',
    bytes: Buffer.from('{"version":"mem-broker-0.1","global_epoch":3,"clusters":{},"all_pro'),
    mentions: ['corrupt', 'not valid JSON'],
  },
  {
    name: 'bytes that are not UTF-8',
    bytes: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    mentions: ['corrupt', 'UTF-8'],
  },
  {
    name: 'another version',
    bytes: Buffer.from(
      JSON.stringify({
        version: 'mem-broker-9',
        global_epoch: 1,
        clusters: {},
        all_proxies: {},
        failed_proxies: [],
        failures: {},
      }),
    ),
    mentions: ['mem-broker-9'],
  },
  {
    name: 'an inconsistent document (a proxy in a cluster that does not exist)',
    bytes: Buffer.from(
      JSON.stringify({
        version: 'mem-broker-0.1',
        global_epoch: 5,
        clusters: {},
        all_proxies: {
          '127.0.0.1:7001': {
            proxy_address: '127.0.0.1:7001',
            node_addresses: ['127.0.0.1:6001', '127.0.0.1:6002'],
            host: 'h1',
            cluster: 'ghost',
          },
        },
        failed_proxies: [],
        failures: {},
      }),
    ),
    mentions: ['not usable'],
  },
];

for (const c of DAMAGED_FILES) {
  test(
    `config: a metadata file holding ${c.name} stops the start and is left byte-identical`,
    { timeout: 30_000 },
    async () => {
      const dir = tempDir();
      const metaFile = join(dir, 'metadata');
      writeFileSync(metaFile, c.bytes);
      const { code, output } = await failedStart({
        env: {
          UNDERMOON_META_FILENAME: metaFile,
          UNDERMOON_RECOVER_FROM_META_FILE: 'true',
          UNDERMOON_AUTO_UPDATE_META_FILE: 'true',
        },
      });
      assert.notEqual(code, 0, output);
      assert.ok(output.includes(metaFile), `the message names the file: ${output}`);
      for (const m of c.mentions) assert.ok(output.includes(m), `the message mentions ${m}: ${output}`);
      assert.ok(readFileSync(metaFile).equals(c.bytes), 'the file is byte-identical');
      assert.deepEqual(readdirSync(dir), ['metadata'], 'nothing else was written next to it');
    },
  );
}
