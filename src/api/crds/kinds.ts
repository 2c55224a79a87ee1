/**
 * Beacon's custom resources, group beacon.dev, version v1alpha1. Field names follow MetalLB's
 * metallb.io/v1beta1 (BGPPeer: v1beta2) wherever the meaning is the same, so that moving from MetalLB is a
 * change of apiVersion. Every check one object can make lives in the kind's file as schema or CEL, so the
 * API server refuses a bad object at `kubectl apply` with a message naming the field.
 *
 * The order here is the order of crds/ and of `beacon crds`.
 */
import { bfdProfileKind } from './bfd-profile.ts';
import { bgpAdvertisementKind } from './bgp-advertisement.ts';
import { bgpPeerKind } from './bgp-peer.ts';
import { bgpSessionStateKind } from './bgp-session-state.ts';
import type { Kind } from './common.ts';
import { communityKind } from './community.ts';
import { ipAddressPoolKind } from './ip-address-pool.ts';
import { l2AdvertisementKind } from './l2-advertisement.ts';
import { serviceBGPStatusKind } from './service-bgp-status.ts';
import { serviceL2StatusKind } from './service-l2-status.ts';

export const KINDS: readonly Kind[] = [
  ipAddressPoolKind,
  l2AdvertisementKind,
  bgpAdvertisementKind,
  bgpPeerKind,
  bfdProfileKind,
  communityKind,
  serviceL2StatusKind,
  serviceBGPStatusKind,
  bgpSessionStateKind,
];
