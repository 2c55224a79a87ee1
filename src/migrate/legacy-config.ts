/**
 * MetalLB's configuration before v0.13: one ConfigMap (`metallb-system/config`) whose `config` key holds a
 * YAML document with `peers`, `bgp-communities`, `address-pools` and `bfd-profiles`. It is read here into
 * the MetalLB objects v0.13 replaced it with (BGPPeer, the deprecated AddressPool, BFDProfile), so that
 * convert.ts converts them by the very rules it applies to MetalLB's own objects. Pure: no I/O.
 *
 * What each field meant, from MetalLB v0.12 (its config parser and the documented example ConfigMap):
 * - a peer needs peer-address, peer-asn and my-asn; peer-port defaults to 179, hold-time to 90s, and
 *   keepalive-time to a third of the hold time. An unset hold-time was an empty string there, so a written
 *   `0s` meant "no hold timer", unlike the `0s` MetalLB v0.13 objects carry for "unset".
 * - a pool needs a name and a protocol (layer2 or bgp); layer2 announced the whole pool by ARP/NDP, bgp
 *   through its bgp-advertisements, or through one default advertisement (/32, /128, no attributes) when
 *   it had none. bgp-advertisements on a layer2 pool were refused. auto-assign defaulted to true.
 * - an advertisement's communities are `AS:value` literals or names from bgp-communities; a name not
 *   defined there was refused. Names are replaced by their values, as MetalLB did.
 * - a peer's bfd-profile must name an entry of bfd-profiles.
 * MetalLB refused a whole configuration for any one mistake; here the pool, peer or profile in error is
 * left out with a problem naming it and its field, and everything else is converted.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { durationMs } from '../api/duration.ts';
import { parseAddress } from '../ipam/address.ts';
import { parseAddressBlock } from '../ipam/range.ts';

type Json = Record<string, unknown>;

/** A MetalLB object (CRD-shaped) read from the legacy configuration, and where in it it came from. */
export interface LegacyItem {
  document: Json;
  /** Path in the configuration document, e.g. `peers[0]`. */
  path: string;
}

export interface LegacyProblem {
  /** Path in the configuration document (`address-pools[1].addresses[0]`), or `data.config`. */
  path: string;
  message: string;
}

export interface LegacyConfig {
  items: LegacyItem[];
  problems: LegacyProblem[];
}

/** The sections of the legacy configuration; `peer-autodiscovery` is recognised but not converted. */
const SECTIONS = ['peers', 'bgp-communities', 'address-pools', 'bfd-profiles'];
const PEER_AUTODISCOVERY = 'peer-autodiscovery';

/** Legacy key -> MetalLB CRD field, per section. */
const PEER_FIELDS: Record<string, string> = {
  'my-asn': 'myASN',
  'peer-asn': 'peerASN',
  'peer-address': 'peerAddress',
  'source-address': 'sourceAddress',
  'peer-port': 'peerPort',
  'hold-time': 'holdTime',
  'keepalive-time': 'keepaliveTime',
  'router-id': 'routerID',
  'node-selectors': 'nodeSelectors',
  password: 'password',
  'bfd-profile': 'bfdProfile',
  'ebgp-multihop': 'ebgpMultiHop',
};
const SELECTOR_FIELDS: Record<string, string> = {
  'match-labels': 'matchLabels',
  'match-expressions': 'matchExpressions',
};
const POOL_FIELDS: Record<string, string> = {
  protocol: 'protocol',
  addresses: 'addresses',
  'auto-assign': 'autoAssign',
  'avoid-buggy-ips': 'avoidBuggyIPs',
  'bgp-advertisements': 'bgpAdvertisements',
};
const ADVERTISEMENT_FIELDS: Record<string, string> = {
  'aggregation-length': 'aggregationLength',
  'aggregation-length-v6': 'aggregationLengthV6',
  localpref: 'localPref',
  communities: 'communities',
};
const BFD_FIELDS: Record<string, string> = {
  'receive-interval': 'receiveInterval',
  'transmit-interval': 'transmitInterval',
  'detect-multiplier': 'detectMultiplier',
  'echo-interval': 'echoInterval',
  'echo-mode': 'echoMode',
  'passive-mode': 'passiveMode',
  'minimum-ttl': 'minimumTtl',
};

const LEGACY_KEY_OF: Record<string, string> = Object.fromEntries(
  [PEER_FIELDS, SELECTOR_FIELDS, POOL_FIELDS, ADVERTISEMENT_FIELDS, BFD_FIELDS].flatMap((fields) =>
    Object.entries(fields).map(([legacy, crd]) => [crd, legacy]),
  ),
);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A ConfigMap whose `config` key is a map with a section of the legacy format. One named `config` (the
 * name MetalLB read) whose key is no map at all counts too, so that its mistake is named; another
 * application's `config` map is not taken for MetalLB's.
 */
export function isLegacyConfigMap(doc: Json): boolean {
  const data = isObject(doc.data) ? doc.data : {};
  if (doc.kind !== 'ConfigMap' || typeof data.config !== 'string') return false;
  const namedConfig = isObject(doc.metadata) && doc.metadata.name === 'config';
  const keys = [...SECTIONS, PEER_AUTODISCOVERY];
  let parsed: unknown;
  try {
    parsed = parseYaml(data.config);
  } catch {
    return namedConfig || keys.some((k) => new RegExp(`^${k}:`, 'm').test(data.config as string));
  }
  if (isObject(parsed)) return Object.keys(parsed).some((k) => keys.includes(k));
  return namedConfig;
}

/**
 * The legacy path of a field convert.ts names on the object read from `path`: `spec.holdTime` of
 * `peers[0]` is `peers[0].hold-time`.
 */
export function legacyFieldPath(path: string, field: string): string {
  if (field === '') return path;
  if (field === 'metadata.name') return `${path}.name`;
  const segments = field
    .replace(/^spec\./, '')
    .split('.')
    .map((segment) => {
      const [, name = segment, index = ''] = /^([^[]+)(.*)$/.exec(segment) ?? [];
      return `${LEGACY_KEY_OF[name] ?? name}${index}`;
    });
  return `${path}.${segments.join('.')}`;
}

/** Kubernetes object names (RFC 1123 subdomain), which Beacon's pools and profiles have. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

class Reader {
  readonly items: LegacyItem[] = [];
  readonly problems: LegacyProblem[] = [];
  /** Community names to values; names whose value is no community map to undefined. */
  private readonly communities = new Map<string, string | undefined>();
  private readonly usedCommunities = new Set<string>();
  private readonly bfdProfiles = new Set<string>();

  private readonly namespace: string | undefined;

  constructor(namespace: string | undefined) {
    this.namespace = namespace;
  }

  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  read(config: Json): void {
    for (const key of Object.keys(config)) {
      if (key === PEER_AUTODISCOVERY)
        this.problem(
          key,
          'not supported: Beacon discovers no peers from node labels or annotations; write a peer for each router instead',
        );
      else if (!SECTIONS.includes(key))
        this.problem(key, "not a section of MetalLB's legacy configuration; not carried over");
    }
    // Names are defined before they are used: communities and BFD profiles first.
    this.readCommunities(config['bgp-communities']);
    this.list(config, 'bfd-profiles', (p, path, i) => this.readBfdProfile(p, path, i));
    this.list(config, 'peers', (p, path, i) => this.readPeer(p, path, i));
    const pools = new Set<string>();
    this.list(config, 'address-pools', (p, path, i) => this.readPool(p, path, i, pools));
    for (const [name, value] of this.communities)
      if (value !== undefined && !this.usedCommunities.has(name))
        this.problem(
          `bgp-communities.${name}`,
          `no advertisement uses it; Beacon's advertisements carry the value (${value}) where the name was, so there is nothing more to carry over`,
        );
  }

  private list(config: Json, section: string, each: (item: Json, path: string, index: number) => void): void {
    const value = config[section];
    if (value === undefined || value === null) return;
    if (!Array.isArray(value)) {
      this.problem(section, 'not a list; nothing in it is converted');
      return;
    }
    value.forEach((item, i) => {
      const path = `${section}[${i}]`;
      if (isObject(item)) each(item, path, i);
      else this.problem(path, `entry ${i + 1} is not a map; left out`);
    });
  }

  private add(kind: string, apiVersion: string, name: string, spec: Json, path: string): void {
    const metadata: Json = { name };
    if (this.namespace !== undefined) metadata.namespace = this.namespace;
    this.items.push({ document: { apiVersion, kind, metadata, spec }, path });
  }

  /** Copies the known fields under their CRD names; an unknown key is a problem (it is not carried over). */
  private copy(
    source: Json,
    fields: Record<string, string>,
    path: string,
    who: string,
    skip: string[] = [],
  ): Json {
    const out: Json = {};
    for (const [key, value] of Object.entries(source)) {
      if (skip.includes(key) || value === null || value === undefined) continue;
      const field = fields[key];
      if (field === undefined)
        this.problem(
          `${path}.${key}`,
          `${who}: not a field of MetalLB's legacy configuration (MetalLB refused it); not carried over`,
        );
      else out[field] = value;
    }
    return out;
  }

  private objectName(
    name: unknown,
    path: string,
    what: string,
    index: number,
    seen: Set<string>,
  ): string | undefined {
    if (typeof name !== 'string' || name === '') {
      this.problem(
        `${path}.name`,
        `${what} ${index + 1}: the name is missing (MetalLB required one); left out`,
      );
      return undefined;
    }
    if (seen.has(name)) {
      this.problem(
        `${path}.name`,
        `${what} ${name}: the name is given a second time (MetalLB refused that); this one is left out`,
      );
      return undefined;
    }
    seen.add(name);
    if (!OBJECT_NAME.test(name) || name.length > 253)
      this.problem(
        `${path}.name`,
        `${what} ${name}: not a Kubernetes object name (lower-case letters, digits, '-' and '.'), which Beacon's objects have; kubectl apply will refuse it: rename it here (and where it is referred to)`,
      );
    return name;
  }

  private readCommunities(value: unknown): void {
    if (value === undefined || value === null) return;
    if (!isObject(value)) {
      this.problem('bgp-communities', 'not a map of names to communities; no name in it is defined');
      return;
    }
    for (const [name, community] of Object.entries(value)) {
      const valid = typeof community === 'string' && isCommunity(community);
      this.communities.set(name, valid ? community : undefined);
      if (!valid)
        this.problem(
          `bgp-communities.${name}`,
          `${JSON.stringify(community)} is not a community (two numbers up to 65535, e.g. 64500:100); pools whose advertisements name ${name} are left out`,
        );
    }
  }

  private readBfdProfile(profile: Json, path: string, index: number): void {
    const name = this.objectName(profile.name, path, 'BFD profile', index, this.bfdProfiles);
    if (name === undefined) return;
    const spec = this.copy(profile, BFD_FIELDS, path, `BFD profile ${name}`, ['name']);
    this.add('BFDProfile', 'metallb.io/v1beta1', name, spec, path);
  }

  private readPeer(peer: Json, path: string, index: number): void {
    const address = peer['peer-address'];
    const who = `peer ${index + 1}${address === undefined ? '' : ` (${String(address)})`}`;
    const faults: LegacyProblem[] = [];
    const fault = (field: string, why: string) =>
      faults.push({ path: `${path}.${field}`, message: `${who}: ${why}; this peer is left out` });
    for (const key of ['peer-address', 'source-address', 'router-id']) {
      const v = peer[key];
      if (v === undefined || v === null) {
        if (key === 'peer-address') fault(key, 'missing (MetalLB required it)');
      } else if (typeof v !== 'string' || !parseAddress(v))
        fault(key, `${JSON.stringify(v)} is not an IP address`);
    }
    for (const key of ['my-asn', 'peer-asn']) {
      const v = peer[key];
      if (v === undefined || v === null) fault(key, 'missing (MetalLB required it)');
      else if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 4294967295)
        fault(key, `${JSON.stringify(v)} is not an AS number (1 to 4294967295)`);
    }
    for (const key of ['hold-time', 'keepalive-time']) {
      const v = peer[key];
      if (v !== undefined && v !== null && (typeof v !== 'string' || durationMs(v) === undefined))
        fault(key, `${JSON.stringify(v)} is not a duration with a unit (e.g. 90s)`);
    }
    const bfd = peer['bfd-profile'];
    if (bfd !== undefined && bfd !== null && !this.bfdProfiles.has(String(bfd)))
      fault('bfd-profile', `${JSON.stringify(bfd)} is not in bfd-profiles`);
    const selectors = this.nodeSelectors(peer['node-selectors'], `${path}.node-selectors`, who, fault);
    if (faults.length) {
      this.problems.push(...faults);
      return;
    }
    const spec = this.copy(peer, PEER_FIELDS, path, who, ['node-selectors']);
    if (selectors) spec.nodeSelectors = selectors;
    // MetalLB v0.12 kept its 90s default when only the keepalive was given; the CRD path would read an
    // unset hold time as three times the keepalive (MetalLB v0.14), so the 90s is written out.
    if (spec.keepaliveTime !== undefined && spec.holdTime === undefined) spec.holdTime = '90s';
    this.add('BGPPeer', 'metallb.io/v1beta2', `peer-${index + 1}`, spec, path);
  }

  /** The legacy `node-selectors` as LabelSelectors; MetalLB selected every node without them. */
  private nodeSelectors(
    value: unknown,
    path: string,
    who: string,
    fault: (field: string, why: string) => void,
  ): Json[] | undefined {
    if (value === undefined || value === null) return undefined;
    const field = 'node-selectors';
    if (!Array.isArray(value) || !value.every(isObject)) {
      fault(field, 'not a list of selectors (match-labels, match-expressions)');
      return undefined;
    }
    return value.map((selector, i) => {
      const s = this.copy(selector, SELECTOR_FIELDS, `${path}[${i}]`, who);
      if (s.matchLabels !== undefined && !isObject(s.matchLabels))
        fault(`${field}[${i}].match-labels`, 'not a map of labels');
      const expressions = s.matchExpressions;
      if (expressions !== undefined && (!Array.isArray(expressions) || !expressions.every(isObject)))
        fault(`${field}[${i}].match-expressions`, 'not a list of key/operator/values');
      return s;
    });
  }

  private readPool(pool: Json, path: string, index: number, seen: Set<string>): void {
    const name = this.objectName(pool.name, path, 'pool', index, seen);
    if (name === undefined) return;
    const who = `pool ${name}`;
    const faults: LegacyProblem[] = [];
    const fault = (field: string, why: string) =>
      faults.push({ path: `${path}.${field}`, message: `${who}: ${why}; this pool is left out` });
    const protocol = pool.protocol;
    if (protocol === undefined || protocol === null)
      fault('protocol', 'missing (MetalLB required layer2 or bgp)');
    else if (protocol !== 'layer2' && protocol !== 'bgp')
      fault('protocol', `${JSON.stringify(protocol)} is neither layer2 nor bgp`);
    const addresses = pool.addresses;
    if (!Array.isArray(addresses) || addresses.length === 0)
      fault('addresses', 'missing or empty (a list of CIDRs or ranges)');
    else
      addresses.forEach((a, j) => {
        const parsed = typeof a === 'string' ? parseAddressBlock(a) : undefined;
        if (!parsed?.ok)
          fault(`addresses[${j}]`, parsed?.message ?? `${JSON.stringify(a)} is not a CIDR or range`);
      });
    const spec = this.copy(pool, POOL_FIELDS, path, who, ['name', 'bgp-advertisements']);
    const advertisements = pool['bgp-advertisements'];
    if (advertisements !== undefined && advertisements !== null) {
      if (protocol === 'layer2')
        fault(
          'bgp-advertisements',
          'given on a layer2 pool (MetalLB refused them there, they apply to bgp pools)',
        );
      else if (!Array.isArray(advertisements) || !advertisements.every(isObject))
        fault('bgp-advertisements', 'not a list of advertisements');
      else
        spec.bgpAdvertisements = advertisements.map((a, j) =>
          this.advertisement(a, `${path}.bgp-advertisements[${j}]`, `bgp-advertisements[${j}]`, who, fault),
        );
    }
    if (faults.length) {
      this.problems.push(...faults);
      return;
    }
    this.add('AddressPool', 'metallb.io/v1beta1', name, spec, path);
  }

  private advertisement(
    source: Json,
    path: string,
    field: string,
    who: string,
    fault: (field: string, why: string) => void,
  ): Json {
    const out = this.copy(source, ADVERTISEMENT_FIELDS, path, who);
    if (out.communities === undefined) return out;
    if (!Array.isArray(out.communities)) {
      fault(`${field}.communities`, 'not a list');
      return out;
    }
    out.communities = out.communities.map((c, k) => {
      const at = `${field}.communities[${k}]`;
      const text = String(c);
      if (text.includes(':')) {
        if (!isCommunity(text))
          fault(at, `"${text}" is not a community (two numbers up to 65535, e.g. 64500:100)`);
        return text;
      }
      this.usedCommunities.add(text);
      const value = this.communities.get(text);
      if (value === undefined)
        fault(
          at,
          this.communities.has(text)
            ? `"${text}" has no valid value in bgp-communities`
            : `"${text}" is not defined in bgp-communities`,
        );
      return value ?? text;
    });
    return out;
  }
}

/** A standard community as MetalLB v0.12 took it: two 16-bit numbers, `AS:value`. */
function isCommunity(text: string): boolean {
  const m = /^([0-9]{1,5}):([0-9]{1,5})$/.exec(text);
  return m !== null && Number(m[1]) <= 65535 && Number(m[2]) <= 65535;
}

/** Reads the `config` key of a legacy ConfigMap (isLegacyConfigMap) into MetalLB objects. */
export function readLegacyConfig(configMap: Json): LegacyConfig {
  const metadata = isObject(configMap.metadata) ? configMap.metadata : {};
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : undefined;
  const reader = new Reader(namespace);
  const text = (configMap.data as Json).config as string;
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    const line = err instanceof YAMLParseError ? err.linePos?.[0]?.line : undefined;
    reader.problem(
      'data.config',
      `not YAML${line ? ` (line ${line})` : ''}: ${(err as Error).message.split('\n')[0]!.replace(/:$/, '')}; nothing is converted from it`,
    );
    return { items: [], problems: reader.problems };
  }
  if (!isObject(parsed)) {
    reader.problem(
      'data.config',
      `holds ${Array.isArray(parsed) ? 'a list' : JSON.stringify(parsed)}, not a map of ${SECTIONS.join(', ')}; nothing is converted from it`,
    );
    return { items: [], problems: reader.problems };
  }
  reader.read(parsed);
  return { items: reader.items, problems: reader.problems };
}
