import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireTool } from '../helpers/tools.js';
import { findRepoFile } from './repo.js';

const UNIT = findRepoFile('deploy/metabroker.service');
const NODE = '/usr/bin/node';

function directives(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    map.set(key, [...(map.get(key) ?? []), line.slice(eq + 1)]);
  }
  return map;
}

test('deploy/metabroker.service: the hardening and layout the deployment relies on', () => {
  const d = directives(readFileSync(UNIT, 'utf8'));
  const expect: [string, string][] = [
    ['ExecStart', `${NODE} /opt/metabroker/dist/src/main.js /etc/metabroker/metabroker.toml`],
    ['DynamicUser', 'yes'],
    ['StateDirectory', 'metabroker'],
    ['WorkingDirectory', '/var/lib/metabroker'],
    ['Restart', 'on-failure'],
    ['KillSignal', 'SIGTERM'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['ProtectKernelTunables', 'yes'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelLogs', 'yes'],
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
  ];
  for (const [key, value] of expect) assert.deepEqual(d.get(key), [value], key);
  assert.ok(Number(d.get('LimitNOFILE')?.[0]) >= 65536, 'LimitNOFILE is high');
  assert.ok(Number(d.get('TimeoutStopSec')?.[0]) > 0, 'TimeoutStopSec is set');
  assert.equal(d.has('MemoryDenyWriteExecute'), false, "V8's JIT needs W+X memory");
});

test('deploy/metabroker.service: systemd-analyze verify reports nothing', (t) => {
  requireTool('systemd-analyze', 'systemd');
  let unit = UNIT;
  let scratch: string | undefined;
  if (!existsSync(NODE)) {
    // verify checks that ExecStart's program exists; on a machine whose node
    // lives elsewhere, check a copy that points at the running node instead.
    t.diagnostic(`${NODE} is absent here; verifying a copy with ExecStart=${process.execPath}`);
    scratch = mkdtempSync(join(tmpdir(), 'metabroker-unit-'));
    unit = join(scratch, 'metabroker.service');
    writeFileSync(unit, readFileSync(UNIT, 'utf8').replace(`ExecStart=${NODE} `, `ExecStart=${process.execPath} `));
  }
  try {
    const run = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    const output = `${run.stdout}${run.stderr}`;
    assert.equal(run.status, 0, `systemd-analyze verify failed:\n${output}`);
    // verify exits 0 on unknown keys and unparsable values, printing a warning: treat those as failures.
    const ours = output.split('\n').filter((line) => line.includes('metabroker'));
    assert.deepEqual(ours, [], `systemd-analyze verify warned about the unit:\n${output}`);
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
});

test('systemd-analyze verify: the check above does catch a broken unit', () => {
  // Guards against the verify test passing vacuously (e.g. a verify that ignores its input).
  requireTool('systemd-analyze', 'systemd');
  const scratch = mkdtempSync(join(tmpdir(), 'metabroker-unit-'));
  try {
    const unit = join(scratch, 'metabroker.service');
    writeFileSync(unit, readFileSync(UNIT, 'utf8').replace('ProtectHome=yes', 'ProtectHomme=yes'));
    const run = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    const output = `${run.stdout}${run.stderr}`;
    assert.match(output, /metabroker\.service.*ProtectHomme/);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
