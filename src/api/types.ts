/**
 * TypeScript types of Beacon's resources, inferred from the schemas in crds/ that also generate
 * crds/*.yaml: one source of truth for both.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { bfdProfileSpec } from './crds/bfd-profile.ts';
import type { bgpAdvertisementSpec, bgpAdvertisementStatus } from './crds/bgp-advertisement.ts';
import type { bgpPeerSpec } from './crds/bgp-peer.ts';
import type { bgpSessionState } from './crds/bgp-session-state.ts';
import type { condition } from './crds/common.ts';
import type { communitySpec } from './crds/community.ts';
import type { ipAddressPoolSpec, ipAddressPoolStatus } from './crds/ip-address-pool.ts';
import type { l2AdvertisementSpec } from './crds/l2-advertisement.ts';
import type { serviceBGPStatus } from './crds/service-bgp-status.ts';
import type { serviceL2Status } from './crds/service-l2-status.ts';
import type { Static } from './schema.ts';

// Defined beside its schema, which src/ipam and src/labels use without this file's Kubernetes metadata type.
export type { LabelSelector } from './crds/common.ts';
export type Condition = Static<typeof condition>;
export type IPAddressPoolSpec = Static<typeof ipAddressPoolSpec>;
export type IPAddressPoolStatus = Static<typeof ipAddressPoolStatus>;
export type L2AdvertisementSpec = Static<typeof l2AdvertisementSpec>;
export type BGPAdvertisementSpec = Static<typeof bgpAdvertisementSpec>;
export type BGPAdvertisementStatus = Static<typeof bgpAdvertisementStatus>;
export type BGPPeerSpec = Static<typeof bgpPeerSpec>;
export type BFDProfileSpec = Static<typeof bfdProfileSpec>;
export type CommunitySpec = Static<typeof communitySpec>;
export type ServiceL2StatusFields = Static<typeof serviceL2Status>;
export type ServiceBGPStatusFields = Static<typeof serviceBGPStatus>;
export type BGPSessionStateFields = Static<typeof bgpSessionState>;

interface Resource<K extends string, Spec, Status = never> {
  apiVersion: 'beacon.dev/v1alpha1';
  kind: K;
  metadata: V1ObjectMeta;
  spec: Spec;
  status?: Status;
}

export type IPAddressPool = Resource<'IPAddressPool', IPAddressPoolSpec, IPAddressPoolStatus>;
export type L2Advertisement = Resource<'L2Advertisement', L2AdvertisementSpec>;
export type BGPAdvertisement = Resource<'BGPAdvertisement', BGPAdvertisementSpec, BGPAdvertisementStatus>;
export type BGPPeer = Resource<'BGPPeer', BGPPeerSpec>;
export type BFDProfile = Resource<'BFDProfile', BFDProfileSpec>;
export type Community = Resource<'Community', CommunitySpec>;

/** The speaker's status kinds carry only `status`. */
interface StatusResource<K extends string, Status> {
  apiVersion: 'beacon.dev/v1alpha1';
  kind: K;
  metadata: V1ObjectMeta;
  status: Status;
}

export type ServiceL2Status = StatusResource<'ServiceL2Status', ServiceL2StatusFields>;
export type ServiceBGPStatus = StatusResource<'ServiceBGPStatus', ServiceBGPStatusFields>;
export type BGPSessionState = StatusResource<'BGPSessionState', BGPSessionStateFields>;

export type BeaconResource =
  | IPAddressPool
  | L2Advertisement
  | BGPAdvertisement
  | BGPPeer
  | BFDProfile
  | Community;
