import { isIP } from 'node:net';
import { isIpLiteral, isValidPort, serverNameForAddress, sortServers } from '../model.js';
import type { Discovery } from './types.js';

export interface StaticServerSpec {
  address: string;
  port: number;
}

/** DISCOVERY=static: a fixed list from STATIC_SERVERS (already validated by loadConfig). */
export function createStaticDiscovery(specs: readonly StaticServerSpec[]): Discovery {
  const servers = sortServers(specs.map((s) => ({ name: serverNameForAddress(s.address, s.port), address: s.address, port: s.port })));
  return { discover: async () => ({ servers, skipped: [] }) };
}

/** `host:port,host:port` → specs; a bare host takes the default port. IPv6 as `[addr]:port`. */
export function parseStaticServers(raw: string, defaultPort: number): StaticServerSpec[] {
  const specs: StaticServerSpec[] = [];
  for (const item of raw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(item);
    let address: string;
    let portText: string | undefined;
    if (bracketed) {
      address = bracketed[1]!;
      portText = bracketed[2];
    } else if (isIP(item) === 6) {
      address = item;
    } else {
      const colon = item.lastIndexOf(':');
      address = colon < 0 ? item : item.slice(0, colon);
      portText = colon < 0 ? undefined : item.slice(colon + 1);
    }
    if (!isIpLiteral(address)) throw new Error(`"${item}": the host must be an IPv4 or IPv6 literal (IPv6 as [addr]:port)`);
    const port = portText === undefined ? defaultPort : /^\d+$/.test(portText) ? Number(portText) : NaN;
    if (!isValidPort(port)) throw new Error(`"${item}": the port must be an integer from 1 to 65535`);
    specs.push({ address, port });
  }
  if (specs.length === 0) throw new Error('at least one host:port');
  return specs;
}
