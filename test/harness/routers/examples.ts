/**
 * The router configuration docs/routers.md shows for peering with Beacon, as a RouterConfig: the docs'
 * config files are generated from it (a test keeps them identical), and the router tests run it.
 */
import type { RouterConfig } from './router.ts';

/** Beacon's address pools in the example: only host routes inside them are accepted. */
export const EXAMPLE_POOLS = ['198.51.100.0/24', '2001:db8:100::/64'];

/** The Kubernetes nodes running Beacon's speaker, all in one ASN. */
export const EXAMPLE_NODES = ['192.0.2.11', '192.0.2.12'];
export const EXAMPLE_NODE_ASN = 64512;

/** The router: AS 64500 at 192.0.2.1, on the nodes' link. */
export const EXAMPLE_ROUTER: RouterConfig = {
  asn: 64500,
  routerId: '192.0.2.1',
  neighbors: EXAMPLE_NODES.map((address) => ({
    address,
    asn: EXAMPLE_NODE_ASN,
    holdTime: 90,
    importPrefixes: EXAMPLE_POOLS,
    exportRoutes: false,
  })),
};
