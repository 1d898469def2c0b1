/** Validation of names and addresses, shared by commands and restore. */
import { CLUSTER_NAME_MAX_LENGTH } from './constants.js';

const CLUSTER_NAME = /^[A-Za-z0-9@_-]+$/;

export function isValidClusterName(name: string): boolean {
  return name.length > 0 && name.length <= CLUSTER_NAME_MAX_LENGTH && CLUSTER_NAME.test(name);
}

/** The host part of `host:port`, or null when the address does not have exactly one ':'. */
export function proxyAddressHost(address: string): string | null {
  const colon = address.indexOf(':');
  if (colon < 0 || address.indexOf(':', colon + 1) >= 0) return null;
  return address.slice(0, colon);
}

/**
 * Ascending byte order of the UTF-8 encodings, which is code point order.
 * Plain `<` compares UTF-16 code units and differs for astral characters.
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Only above 0xD800 can UTF-16 order differ from code point order; the
    // first differing units always start different code points there.
    return x >= 0xd800 && y >= 0xd800 ? a.codePointAt(i)! - b.codePointAt(i)! : x - y;
  }
  return a.length - b.length;
}
