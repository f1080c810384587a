import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createEcsDiscovery } from './ecs.js';
import { createStaticDiscovery } from './static.js';
import type { Discovery } from './types.js';

/** The discovery DISCOVERY names, built from the validated config. */
export function createDiscovery(config: Config, logger: Logger): Discovery {
  if (config.discovery === 'static') return createStaticDiscovery(config.staticServers);
  return createEcsDiscovery({
    cluster: config.ecsCluster!,
    ...(config.ecsService !== undefined && { service: config.ecsService }),
    serverPort: config.serverPort,
    addressMode: config.serverAddress,
    requireHealthy: config.serverRequireHealthy,
    logger,
  });
}
