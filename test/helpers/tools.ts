/**
 * Outside programs some tests run. A missing one fails the test with what
 * to install, never skips it: .ci/run installs every one of them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** Fails unless `command` is on the PATH; `aptPackage` is the Debian/Ubuntu package that has it. */
export function requireTool(command: string, aptPackage: string): void {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { encoding: 'utf8' });
  assert.ok(
    found.status === 0 && found.stdout.trim() !== '',
    `${command} is not installed, and this test needs it: .ci/run installs it (apt-get install -y ${aptPackage})`,
  );
}
