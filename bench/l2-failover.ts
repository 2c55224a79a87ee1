/**
 * L2 failover as a client sees it, shared by the speaker and mesh-real benches: the owner of an address is
 * the MAC that answers the client's ARP request; after SIGKILL of that owner's speaker, failover is the time
 * until the client's neighbour entry names another MAC (from the gratuitous burst alone).
 */
import type { ClusterLab, LabNode } from '../test/harness/cluster-lab.ts';
import { waitFor } from '../test/harness/process.ts';

/** The node whose MAC answers the client's ARP request for `address`, or undefined. */
export async function arpOwner(lab: ClusterLab, address: string): Promise<LabNode | undefined> {
  const r = await lab.client.exec('arping', ['-c', '1', '-w', '1', '-i', 'eth0', address]);
  const mac = /from ([0-9a-f:]{17})/i.exec(r.stdout)?.[1]?.toLowerCase();
  return lab.nodes.find((n) => n.mac === mac);
}

export async function neighbourMac(lab: ClusterLab, address: string): Promise<string | undefined> {
  const r = await lab.client.exec('ip', ['-j', 'neigh', 'show', address, 'dev', 'eth0']);
  return (JSON.parse(r.stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
}

export interface FailoverOptions {
  runs: number;
  /** The arguments the killed speaker is started again with. */
  speakerArgs: string[];
  /** How long to wait for an owner, before and after each run. */
  ownerWaitMs: number;
  /** Told each run's figure. */
  report(run: number, ms: number): void;
}

/**
 * `runs` times: find the owner, kill its speaker, time the client's move, restart the speaker and wait until
 * the address is back at it (so that every run starts from the same owner). Returns the figures in ms.
 */
export async function failoverAfterKill(
  lab: ClusterLab,
  address: string,
  o: FailoverOptions,
): Promise<number[]> {
  const failover: number[] = [];
  for (let run = 0; run < o.runs; run++) {
    let owner: LabNode | undefined;
    await waitFor(
      'an owner for the probe address',
      async () => {
        owner = await arpOwner(lab, address);
        return owner !== undefined;
      },
      o.ownerWaitMs,
      100,
    );
    // The client's neighbour entry must exist (and name the owner) before the kill.
    await lab.client.exec('ping', ['-c', '1', '-W', '1', address]);
    const killed = Date.now();
    owner!.speaker!.child.kill('SIGKILL');
    await waitFor(
      'the client to follow',
      async () => {
        const mac = await neighbourMac(lab, address);
        return !!mac && mac !== owner!.mac;
      },
      10_000,
      5,
    );
    failover.push(Date.now() - killed);
    o.report(run + 1, failover.at(-1)!);
    lab.startSpeaker(owner!, o.speakerArgs, true);
    await lab.waitForSpeakersSynced([owner!]);
    await waitFor(
      'the address back at its owner',
      async () => (await arpOwner(lab, address)) === owner,
      o.ownerWaitMs,
      100,
    );
  }
  return failover;
}
