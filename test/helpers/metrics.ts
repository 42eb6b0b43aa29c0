import type { RunningBroker } from '../../app/server.js';

/** The broker's ainp_cache_requests_total for one kind and result, read from /metrics. */
export async function cacheCount(broker: RunningBroker, kind: string, result: string): Promise<number> {
  const text = await (await fetch(`${broker.url}/metrics`)).text();
  const m = new RegExp(`ainp_cache_requests_total\\{kind="${kind}",result="${result}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** The broker's ainp_db_errors_total, read from /metrics. */
export async function dbErrors(broker: RunningBroker): Promise<number> {
  const text = await (await fetch(`${broker.url}/metrics`)).text();
  const m = /^ainp_db_errors_total (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}
