/**
 * Who answers for an address in L2 mode: the candidate node with the highest rendezvous hash of
 * (address, node). Every speaker computes the same owner from the same inputs, so no per-address
 * coordination goes through the API server; when a node joins or leaves, only the addresses it wins or
 * held move. An optional weight per node biases the choice (weighted rendezvous hashing): a node of
 * weight 2 wins about twice as many addresses as one of weight 1.
 */
import { createHash } from 'node:crypto';

/** A number in (0, 1), uniform over (address, node) pairs. */
function unitHash(address: string, node: string): number {
  const d = createHash('sha256').update(address).update('\0').update(node).digest();
  // 52 bits fit a double exactly; +1 keeps the value away from 0, where the log below is infinite.
  const n = d.readUIntBE(0, 6) * 16 + (d[6]! >> 4);
  return (n + 1) / (2 ** 52 + 2);
}

/** The node's score for the address; the highest score wins. */
export function rendezvousScore(address: string, node: string, weight = 1): number {
  return -weight / Math.log(unitHash(address, node));
}

/**
 * The owner of `address` among `candidates` (node name -> weight), or undefined when there is none.
 * Ties (practically impossible) go to the lexically smaller node name so every speaker agrees.
 */
export function electOwner(
  address: string,
  candidates: ReadonlyMap<string, number> | readonly string[],
): string | undefined {
  let best: string | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  const entries: Iterable<[string, number]> = Array.isArray(candidates)
    ? (candidates as readonly string[]).map((n) => [n, 1] as [string, number])
    : (candidates as ReadonlyMap<string, number>).entries();
  for (const [node, weight] of entries) {
    if (weight <= 0) continue;
    const score = rendezvousScore(address, node, weight);
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}
