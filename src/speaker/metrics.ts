import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The speaker's Prometheus metrics, on a registry of its own. */
export function speakerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'beacon_speaker_' });
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    announcedAddresses: gauge(
      'beacon_speaker_announced_addresses',
      'Addresses this node announces, by protocol.',
      ['protocol'],
    ),
    bgpSessionsUp: gauge('beacon_speaker_bgp_sessions_up', 'BGP sessions of this node in Established.'),
    bgpUpdatesSent: gauge('beacon_speaker_bgp_updates_sent', 'UPDATE messages sent on the current sessions.'),
    l2RequestsAnswered: counter(
      'beacon_speaker_l2_requests_answered_total',
      'ARP requests and Neighbor Solicitations answered.',
      ['interface'],
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
