import { Counter, Gauge } from 'prom-client';
import { componentRegistry } from '../metrics/registry.ts';

/**
 * At most this many addresses get a beacon_speaker_l2_address_owned series per speaker (the lowest, in
 * text order), so that a node owning tens of thousands of addresses cannot flood Prometheus;
 * beacon_speaker_announced_addresses{protocol="l2"} always counts them all.
 */
export const MAX_L2_ADDRESS_SERIES = 1000;

/** The speaker's Prometheus metrics, on a registry of its own. */
export function speakerMetrics() {
  const registry = componentRegistry('speaker');
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const l2AddressOwned = gauge(
    'beacon_speaker_l2_address_owned',
    `1 for each address this node answers ARP/NDP for (at most ${MAX_L2_ADDRESS_SERIES} series; see beacon_speaker_announced_addresses for the count).`,
    ['address'],
  );
  const labelled = new Set<string>();
  return {
    registry,
    announcedAddresses: gauge(
      'beacon_speaker_announced_addresses',
      'Addresses this node announces, by protocol.',
      ['protocol'],
    ),
    bgpSessionsUp: gauge('beacon_speaker_bgp_sessions_up', 'BGP sessions of this node in Established.'),
    bgpSessionUp: gauge(
      'beacon_speaker_bgp_session_up',
      '1 while the session to this BGPPeer is Established, else 0.',
      ['peer'],
    ),
    bgpAnnouncedPrefixes: gauge(
      'beacon_speaker_bgp_announced_prefixes',
      'Prefixes announced on the session to this BGPPeer (0 while it is not Established).',
      ['peer'],
    ),
    bgpUpdatesSent: counter(
      'beacon_speaker_bgp_updates_sent_total',
      'BGP UPDATE messages sent to this BGPPeer (announcements, withdrawals and End-of-RIB markers).',
      ['peer'],
    ),
    bfdSessionUp: gauge(
      'beacon_speaker_bfd_session_up',
      '1 while the BFD session to this BGPPeer is Up, else 0 (only peers with a bfdProfile).',
      ['peer'],
    ),
    l2AddressOwned,
    /** Makes beacon_speaker_l2_address_owned list exactly `owned` (capped), touching only what changed. */
    setL2Owned(owned: Iterable<string>): void {
      const next = new Set([...owned].sort().slice(0, MAX_L2_ADDRESS_SERIES));
      for (const a of labelled) if (!next.has(a)) l2AddressOwned.remove({ address: a });
      for (const a of next) if (!labelled.has(a)) l2AddressOwned.set({ address: a }, 1);
      labelled.clear();
      for (const a of next) labelled.add(a);
    },
    l2RequestsAnswered: counter(
      'beacon_speaker_l2_requests_answered_total',
      'ARP requests and Neighbor Solicitations answered.',
      ['interface'],
    ),
    l2FramesDropped: counter(
      'beacon_speaker_l2_frames_dropped_total',
      'ARP/NDP frames the kernel dropped because the speaker did not read them in time (a flood, or too little CPU): questions that went unanswered whatever the rate limits allow.',
      ['interface', 'protocol'],
    ),
    gratuitousSent: counter(
      'beacon_speaker_gratuitous_sent_total',
      'Gratuitous ARP / unsolicited NA rounds sent.',
      ['interface'],
    ),
    ownershipChanges: counter(
      'beacon_speaker_ownership_changes_total',
      'L2 addresses this node took over or gave up.',
      ['direction'],
    ),
    liveSpeakers: gauge(
      'beacon_speaker_live_speakers',
      'Speakers this node considers alive, itself included.',
    ),
    mayAnnounce: gauge(
      'beacon_speaker_may_announce',
      '1 when this node may announce (not cut off), by protocol.',
      ['protocol'],
    ),
  };
}

export type SpeakerMetrics = ReturnType<typeof speakerMetrics>;

/** What the BGP announcer records, so it can be given a speaker's metrics or a test's. */
export type BgpMetrics = Pick<
  SpeakerMetrics,
  'bgpSessionUp' | 'bgpAnnouncedPrefixes' | 'bgpUpdatesSent' | 'bfdSessionUp'
>;
