/** `metabroker proxies ls|show|add|rm`. */
import { compareBytes } from '../../domain/names.js';
import type { ProxyView } from '../../domain/types.js';
import { seg } from '../client.js';
import type { Context } from '../context.js';
import { BrokerRefusal } from '../errors.js';
import { readAddressList, readMetadata, readProxyAddresses } from '../fleet.js';
import { formatRanges, keyValues, table } from '../render.js';

/**
 * `-o json`: GET /proxies/addresses (every page). The table needs hosts,
 * which only GET /metadata has, so it reads that once rather than a meta
 * per proxy.
 */
export async function listProxies(ctx: Context): Promise<void> {
  if (ctx.json) {
    ctx.printJson({ addresses: await readProxyAddresses(ctx.client) });
    return;
  }
  const [doc, reported] = await Promise.all([readMetadata(ctx.client), readAddressList(ctx.client, '/failures')]);
  const c = ctx.colors;
  const failed = new Set(doc.failed_proxies);
  const reportedSet = new Set(reported);
  const proxies = Object.values(doc.all_proxies).sort((a, b) => compareBytes(a.proxy_address, b.proxy_address));
  if (proxies.length === 0) {
    ctx.print('no proxies registered; add one with `metabroker proxies add ADDR NODE1 NODE2`');
    return;
  }
  const rows = proxies.map((p) => {
    // A failed proxy out of any cluster is not free: the broker picks no replacement among failed proxies.
    const state = [p.cluster !== null ? 'serving' : failed.has(p.proxy_address) ? c.red('failed') : c.green('free')];
    if (p.cluster !== null && failed.has(p.proxy_address)) state.push(c.red('failed'));
    if (reportedSet.has(p.proxy_address)) state.push(c.yellow('reported'));
    const row = [p.proxy_address, p.host, p.cluster ?? '-', state.join(',')];
    return ctx.wide ? [...row, p.node_addresses.join(',')] : row;
  });
  const head = ['ADDRESS', 'HOST', 'CLUSTER', 'STATE'];
  ctx.print(table(c, ctx.wide ? [...head, 'NODES'] : head, rows));
}

/** GET /proxies/meta/ADDR; `{"proxy": null}` is PROXY_NOT_FOUND (exit 1), after printing the body with -o json. */
export async function showProxy(ctx: Context, address: string): Promise<void> {
  const path = `/proxies/meta/${seg(address)}`;
  const { text: body, value } = await ctx.client.callJson<{ proxy: ProxyView | null }>('GET', path);
  const proxy = value.proxy;
  if (ctx.json) ctx.printBody(body);
  if (proxy === null)
    throw new BrokerRefusal('PROXY_NOT_FOUND', 200, undefined, `GET /api/v2${path} gave {"proxy":null}`);
  if (ctx.json) return;

  const c = ctx.colors;
  const clusters = Object.keys(proxy.clusters_config);
  const pairs: [string, string][] = [
    ['address', proxy.address],
    ['epoch', String(proxy.epoch)],
    ['cluster', clusters.length === 0 ? c.green('- (free)') : clusters.join(',')],
  ];
  if (proxy.free_nodes.length > 0) pairs.push(['free nodes', proxy.free_nodes.join(', ')]);
  const parts = [keyValues(c, pairs)];
  if (proxy.nodes.length > 0) {
    const rows = proxy.nodes.map((n) => {
      const peer = n.repl.peers.map((p) => `${p.node_address} (${p.proxy_address})`).join(', ');
      const stable = n.slots.flatMap((s) => (s.tag === 'None' ? s.range_list : []));
      const moving = n.slots.flatMap((s) => {
        if (s.tag === 'None') return [];
        return 'Migrating' in s.tag
          ? [`${formatRanges(s.range_list)} -> ${s.tag.Migrating.dst_proxy_address}`]
          : [`${formatRanges(s.range_list)} <- ${s.tag.Importing.src_proxy_address}`];
      });
      const row = [n.address, n.repl.role === 'master' ? c.bold('master') : 'replica', formatRanges(stable), peer];
      return ctx.wide ? [...row, moving.length === 0 ? '-' : moving.join('; ')] : row;
    });
    const head = ['NODE', 'ROLE', 'SLOTS', 'PEER'];
    parts.push(table(c, ctx.wide ? [...head, 'MIGRATIONS'] : head, rows));
  }
  if (proxy.peers.length > 0 && ctx.wide) {
    parts.push(
      table(
        c,
        ['PEER PROXY', 'SLOTS'],
        proxy.peers.map((p) => [p.proxy_address, formatRanges(p.slots.flatMap((s) => s.range_list))]),
      ),
    );
  }
  ctx.print(parts.join('\n\n'));
}

export async function addProxy(
  ctx: Context,
  address: string,
  nodes: [string, string],
  host: string | undefined,
): Promise<void> {
  const body = host === undefined ? { proxy_address: address, nodes } : { proxy_address: address, nodes, host };
  const answer = await ctx.client.call('POST', '/proxies/meta', body);
  if (ctx.json) return ctx.printBody(answer);
  ctx.print(`registered proxy ${address} (nodes ${nodes.join(', ')}; host ${host ?? 'from its address'})`);
}

export async function removeProxy(ctx: Context, address: string): Promise<void> {
  const answer = await ctx.client.call('DELETE', `/proxies/meta/${seg(address)}`);
  if (ctx.json) return ctx.printBody(answer);
  ctx.print(`removed proxy ${address}`);
}
