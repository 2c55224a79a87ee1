/** One entry point for tests that run the same scenario against every router. */
import type { Netns } from '../netns.ts';
import { BirdRouter } from './bird.ts';
import { FrrRouter } from './frr.ts';
import { GobgpRouter } from './gobgp.ts';
import type { Router, RouterConfig, RouterKind } from './router.ts';

export { BirdRouter } from './bird.ts';
export * from './examples.ts';
export { FrrRouter } from './frr.ts';
export { GobgpRouter, gobgpLacksBfd } from './gobgp.ts';
export * from './router.ts';

export const ROUTER_KINDS: readonly RouterKind[] = ['frr', 'bird', 'gobgp'];

/** Starts a router of `kind` in `ns`; resolves once it answers its own control socket or API. */
export function startRouter(kind: RouterKind, ns: Netns, cfg: RouterConfig): Promise<Router> {
  switch (kind) {
    case 'frr':
      return FrrRouter.start(ns, cfg);
    case 'bird':
      return BirdRouter.start(ns, cfg);
    case 'gobgp':
      return GobgpRouter.start(ns, cfg);
  }
}
