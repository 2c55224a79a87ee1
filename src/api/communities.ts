/**
 * What a community in `BGPAdvertisement.communities` stands for: a literal (`65535:65281`,
 * `large:64512:1:2`), a name given by a Community object, or a well-known name. The controller (which
 * reports an unresolvable name on the advertisement) and the speaker (which then announces nothing for it)
 * resolve with this one module, so they can never disagree.
 */
import { parseCommunity, parseLargeCommunity } from '../bgp/codec/communities.ts';
import type { Community } from './types.ts';
import { WELL_KNOWN_COMMUNITIES, wellKnownCommunity } from './well-known-communities.ts';

export type Resolved = { ok: true; value: string } | { ok: false; reason: string };

/** Names defined by the Community objects, and the well-known ones. */
export class CommunityResolver {
  /** alias -> value -> Community objects defining it so. */
  private readonly aliases = new Map<string, Map<string, string[]>>();

  constructor(communities: readonly Community[]) {
    for (const c of communities) {
      const owner = c.metadata?.name ?? '';
      for (const e of c.spec?.communities ?? []) {
        let values = this.aliases.get(e.name);
        if (!values) {
          values = new Map();
          this.aliases.set(e.name, values);
        }
        const owners = values.get(e.value) ?? [];
        owners.push(owner);
        values.set(e.value, owners);
      }
    }
  }

  /** A literal as it is; a name to its value, or why it has none. */
  resolve(ref: string): Resolved {
    if (ref.includes(':')) {
      // The CRD checks literals; an object stored before a rule existed is checked here as well.
      const valid = ref.startsWith('large:') ? parseLargeCommunity(ref) : parseCommunity(ref);
      return valid === undefined
        ? { ok: false, reason: `"${ref}" is not a community (AS:value or large:global:local1:local2)` }
        : { ok: true, value: ref };
    }
    const defined = this.aliases.get(ref);
    if (defined && defined.size > 1) {
      const how = [...defined].map(([value, owners]) => `${value} in ${owners.sort().join(', ')}`);
      return {
        ok: false,
        reason: `community name "${ref}" is defined differently by several Community objects (${how.join('; ')})`,
      };
    }
    if (defined) return { ok: true, value: [...defined.keys()][0]! };
    const known = wellKnownCommunity(ref);
    if (known) return { ok: true, value: known };
    return {
      ok: false,
      reason: `community name "${ref}" is neither defined by a Community object nor a well-known name (${Object.keys(WELL_KNOWN_COMMUNITIES).join(', ')})`,
    };
  }

  /** Every community of a list resolved, or the reasons of those that are not. */
  resolveAll(refs: readonly string[]): { values: string[]; problems: string[] } {
    const values: string[] = [];
    const problems: string[] = [];
    for (const ref of refs) {
      const r = this.resolve(ref);
      if (r.ok) {
        if (!values.includes(r.value)) values.push(r.value);
      } else problems.push(r.reason);
    }
    return { values, problems };
  }
}
