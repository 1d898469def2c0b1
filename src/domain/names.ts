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

/** The longest proxy address, node address or reporter id: the longest host name (253) plus a port, roughly. */
export const ADDRESS_MAX_BYTES = 255;

/**
 * Printable ASCII but space, '/' and '%': a name that any client can put in
 * a URL path segment as it is and get back unchanged, so whatever is stored
 * can be read and deleted through the API. ASCII also rules out lone
 * surrogates, and makes the length in characters the length in bytes.
 */
export function isPathSafeName(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > ADDRESS_MAX_BYTES) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x2f || c === 0x25) return false;
  }
  return true;
}

/**
 * A proxy address the broker accepts: a path-safe `host:port` with exactly
 * one ':' and a host before it (a proxy's host, when not given, is taken
 * from its address, and a stored host must be a name).
 */
export function isValidProxyAddress(address: string): boolean {
  return isPathSafeName(address) && !!proxyAddressHost(address);
}

/** A name quoted for a message, cut short: a refused name may be megabytes long. */
export function shownName(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}... (${name.length} characters)` : name;
}

/** Why a name is refused, for messages: `field` is where it was found. */
export function nameProblem(field: string, name: string): string {
  return `${field} ${JSON.stringify(shownName(name))} must be 1 to ${ADDRESS_MAX_BYTES} printable ASCII characters other than space, '/' and '%'`;
}
