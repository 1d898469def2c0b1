/** Shape constants of the chunk model (docs/api.md#chunks-roles-and-slots). */
export const SLOT_NUM = 16384;
export const NODES_PER_PROXY = 2;
export const CHUNK_PARTS = 2;
export const CHUNK_NODE_NUM = 4;
export const META_VERSION = 'mem-broker-0.1';
/** The undermoon version whose API this broker implements. */
export const UNDERMOON_API_VERSION = '0.3.0';
export const CLUSTER_NAME_MAX_LENGTH = 30;
/**
 * The largest epoch the broker will set. Epochs are JSON numbers, exact only
 * up to 2^53; this leaves room for any number of later bumps.
 */
export const MAX_EPOCH = 2 ** 52;
/**
 * Reporters kept per proxy: a new reporter beyond this drops the oldest
 * report, so failure reports take at most known proxies x this many entries.
 */
export const MAX_REPORTERS_PER_PROXY = 1024;
