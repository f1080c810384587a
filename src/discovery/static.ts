import type { StaticServerSpec } from '../config.js';
import { serverNameForAddress, sortServers } from '../model.js';
import type { Discovery } from './types.js';

/** DISCOVERY=static: a fixed list from STATIC_SERVERS (already validated by loadConfig). */
export function createStaticDiscovery(specs: readonly StaticServerSpec[]): Discovery {
  const servers = sortServers(specs.map((s) => ({ name: serverNameForAddress(s.address, s.port), address: s.address, port: s.port })));
  return { discover: async () => ({ servers, skipped: [] }) };
}
