/** `metabroker failures` and `metabroker failover ADDR`. */
import type { ProxyView } from '../../domain/types.js';
import { MAX_IN_FLIGHT, mapBounded, seg } from '../client.js';
import type { Context } from '../context.js';
import { BrokerRefusal } from '../errors.js';
import { readAddressList } from '../fleet.js';
import { table } from '../render.js';

/** `-o json`: GET /failures as is. The table adds each proxy's cluster and whether it was failed over. */
export async function listFailures(ctx: Context): Promise<void> {
  const { text: body, value } = await ctx.client.callJson<{ addresses: string[] }>('GET', '/failures');
  if (ctx.json) return ctx.printBody(body);
  const reported = value.addresses;
  if (reported.length === 0) {
    ctx.print('no proxy is reported failed');
    return;
  }
  const [failed, views] = await Promise.all([
    readAddressList(ctx.client, '/proxies/failed/addresses'),
    mapBounded(reported, MAX_IN_FLIGHT, (a) => ctx.client.get<{ proxy: ProxyView | null }>(`/proxies/meta/${seg(a)}`)),
  ]);
  const failedSet = new Set(failed);
  const c = ctx.colors;
  const rows = reported.map((address, i) => {
    const clusters = Object.keys(views[i]?.proxy?.clusters_config ?? {});
    return [address, clusters.length === 0 ? '-' : clusters.join(','), failedSet.has(address) ? c.red('yes') : 'no'];
  });
  ctx.print(
    `${table(c, ['ADDRESS', 'CLUSTER', 'FAILED OVER'], rows)}\n\n` +
      'to replace a proxy in its cluster: metabroker failover ADDR',
  );
}

/** POST /proxies/failover/ADDR answers `{"proxy": the replacement's view}`, or null for a free proxy. */
export async function failover(ctx: Context, address: string): Promise<void> {
  let answer: { text: string; value: { proxy: ProxyView | null } };
  try {
    answer = await ctx.client.callJson('POST', `/proxies/failover/${seg(address)}`);
  } catch (err) {
    // The broker keeps the takeover when it finds no replacement: say so, the generic hint does not.
    if (err instanceof BrokerRefusal && err.code === 'NO_AVAILABLE_RESOURCE') {
      throw new BrokerRefusal(
        err.code,
        err.status,
        `${address} is marked failed and its chunk peer took over its slots, but no free proxy could replace it; ` +
          'register one and run the failover again',
        err.context,
      );
    }
    throw err;
  }
  if (ctx.json) return ctx.printBody(answer.text);
  const replacement = answer.value.proxy;
  if (replacement === null) {
    ctx.print(`marked ${address} failed; it served no cluster, so nothing needed replacing`);
    return;
  }
  const cluster = Object.keys(replacement.clusters_config).join(',');
  ctx.print(
    `failed over ${address}: its chunk peer took over, and ${replacement.address} replaces it in cluster ${cluster}`,
  );
}
