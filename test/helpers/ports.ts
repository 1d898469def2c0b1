/**
 * Addresses no other test process can take. Test files run side by side,
 * so "a port that was free a moment ago" is a race: another process may
 * bind it before it is used. Instead every test process owns a loopback
 * address of its own, derived from its pid (127.x.y.z; pids are unique
 * among live processes), and hands out ports on it; or a server listens on
 * port 0 and its real port is read back.
 */

/** This test process's own loopback address. */
export function processLoopback(): string {
  const pid = process.pid;
  // 127.0.0.x is left to everything else; pids stay below 2^22.
  return `127.${1 + ((pid >> 16) & 0x7f)}.${(pid >> 8) & 0xff}.${pid & 0xff}`;
}

let nextPort = 23000;

/** A port on processLoopback() that this process has not handed out before. */
export function ownPort(): number {
  return nextPort++;
}

/**
 * host:port on this process's own loopback address where nothing listens
 * (test servers listen on 127.0.0.1 or their own address, never on all
 * addresses): connecting is refused, now and later.
 */
export function deadAddress(): string {
  return `${processLoopback()}:${ownPort()}`;
}
