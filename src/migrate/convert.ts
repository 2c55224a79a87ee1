/**
 * MetalLB objects (metallb.io v1beta1, and v1beta2 for BGPPeer) to Beacon's (beacon.dev/v1alpha1). Pure:
 * no I/O, no Kubernetes client. Beacon's field names follow MetalLB's where the meaning is the same, so most
 * fields are copied as they are; every field that cannot be carried over yields a Warning naming it and
 * saying what changes, and nothing is silently dropped: a field this module does not know is reported too.
 *
 * Field lists compared: Beacon's in src/api/crds/; MetalLB's from its API reference (metallb.io/v1beta1
 * IPAddressPool, L2Advertisement, BGPAdvertisement, BFDProfile, Community, the deprecated AddressPool;
 * BGPPeer in v1beta1 and v1beta2). MetalLB's legacy ConfigMap is read into such objects by legacy-config.ts
 * and converted by the same rules, its warnings naming the legacy field.
 */
import { API_VERSION } from '../api/crds/common.ts';
import { KINDS } from '../api/crds/kinds.ts';
import { durationMs } from '../api/duration.ts';
import { type SchemaFault, structuralErrors } from '../api/schema-check.ts';
import { isLegacyConfigMap, legacyFieldPath, readLegacyConfig } from './legacy-config.ts';

export const METALLB_GROUP = 'metallb.io';
export const METALLB_NAMESPACE = 'metallb-system';

export interface Warning {
  /** Kind/name of the MetalLB object, or the document's position when it has none. */
  object: string;
  /** Dotted path of the field, e.g. spec.vrf; empty for the whole object. */
  field: string;
  message: string;
}

export interface BeaconObject {
  apiVersion: typeof API_VERSION;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
}

export interface ConvertOptions {
  /** Namespace of the Beacon objects (beacon-system). */
  namespace: string;
}

export interface Conversion {
  objects: BeaconObject[];
  warnings: Warning[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Metadata Beacon's object keeps: the name, labels (pool selectors match them) and user annotations. */
function metadataOf(source: Json, namespace: string, nameSuffix = ''): BeaconObject['metadata'] {
  const m = isObject(source.metadata) ? source.metadata : {};
  const out: BeaconObject['metadata'] = { name: `${String(m.name)}${nameSuffix}`, namespace };
  if (isObject(m.labels) && Object.keys(m.labels).length) out.labels = m.labels as Record<string, string>;
  if (isObject(m.annotations)) {
    const kept = Object.entries(m.annotations as Record<string, string>).filter(
      // kubectl's record of the MetalLB object would make the next `kubectl apply` compute a wrong diff.
      ([k]) => k !== 'kubectl.kubernetes.io/last-applied-configuration',
    );
    if (kept.length) out.annotations = Object.fromEntries(kept);
  }
  return out;
}

/**
 * Copies `spec` field by field: `same` fields as they are, `special` ones through their handler (which
 * may set fields on the output, warn, or both); any other field is reported as unknown.
 */
function mapSpec(
  spec: Json,
  same: readonly string[],
  special: Record<string, (value: unknown, out: Json) => void>,
  warn: (field: string, message: string) => void,
): Json {
  const out: Json = {};
  for (const [field, value] of Object.entries(spec)) {
    if (value === undefined || value === null) continue;
    if (same.includes(field)) out[field] = value;
    else if (field in special) special[field]!(value, out);
    else warn(`spec.${field}`, 'not a field this converter knows (newer MetalLB?); not carried over');
  }
  return out;
}

const ADVERTISEMENT_FIELDS = ['ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors'] as const;
const BGP_ADVERTISEMENT_FIELDS = [
  ...ADVERTISEMENT_FIELDS,
  'aggregationLength',
  'aggregationLengthV6',
  'localPref',
  'communities',
  'peers',
] as const;
const BFD_FIELDS = [
  'receiveInterval',
  'transmitInterval',
  'detectMultiplier',
  'echoInterval',
  'passiveMode',
  'minimumTtl',
] as const;
/** BGPPeer fields with the same name and meaning in MetalLB v1beta1/v1beta2 and Beacon. */
const PEER_FIELDS = [
  'myASN',
  'peerAddress',
  'sourceAddress',
  'peerPort',
  'holdTime',
  'keepaliveTime',
  'connectTime',
  'routerID',
  'nodeSelectors',
  'password',
  'bfdProfile',
  'enableGracefulRestart',
] as const;

type Warn = (field: string, message: string) => void;

/** Handler for an advertisement's serviceSelectors, which Beacon lacks. */
const serviceSelectors = (mode: string, warn: Warn) => (value: unknown) => {
  if (Array.isArray(value) && value.length === 0) return;
  warn(
    'spec.serviceSelectors',
    `Beacon has no per-Service selection in advertisements: every Service of the selected pools is announced in ${mode} mode; put the Services you meant in a pool of their own`,
  );
};

interface Context {
  namespace: string;
  sourceNamespace: string | undefined;
  warn: Warn;
  /** Read from MetalLB's legacy ConfigMap (legacy-config.ts), not from MetalLB's objects. */
  legacy?: boolean;
}

/** Seconds as a Go duration, the form the CRDs take. */
const seconds = (n: number) => `${n}s`;

/** Beacon's CRD takes hold times up to 65535 s (RFC 4271 4.2: the field is 16 bits). */
const MAX_HOLD_SECONDS = 65535;

/**
 * The hold time as MetalLB meant it. MetalLB up to v0.13 had non-pointer durations, so its objects (and
 * `kubectl get -o yaml` of them) carry `holdTime: 0s` for "unset", which it read as 90 s; in Beacon 0s turns
 * the hold timer off. Since v0.14 an unset holdTime with a keepaliveTime is three times the keepalive there,
 * while Beacon would use 90 s. Adjusts `out` and says so.
 */
function fixHoldTime(spec: Json, out: Json, warn: Warn, legacy: boolean): void {
  // In the legacy ConfigMap an unset hold time was an empty string, so a written 0s meant no hold timer.
  if (!legacy && out.holdTime !== undefined && durationMs(out.holdTime as string) === 0) {
    delete out.holdTime;
    warn(
      'spec.holdTime',
      "0s left out, so the hold time is Beacon's default 90s: MetalLB before v0.14 wrote 0s for an unset hold time and used 90s; in Beacon 0s would turn the hold timer off. If you meant no hold timer, set holdTime: 0s (and keepaliveTime: 0s) yourself",
    );
    return;
  }
  if (spec.holdTime !== undefined && spec.holdTime !== null) return;
  const keepalive = durationMs(out.keepaliveTime as string | undefined);
  if (!keepalive) return;
  const hold = Math.min(MAX_HOLD_SECONDS, Math.floor((3 * keepalive) / 1000));
  out.holdTime = seconds(hold);
  warn(
    'spec.holdTime',
    `set to ${out.holdTime}, three times keepaliveTime ${String(out.keepaliveTime)}, the hold time MetalLB derives when only keepaliveTime is given (Beacon's default would be 90s)`,
  );
}

/**
 * keepaliveTime must stay below holdTime (RFC 4271 4.4: one third of it is the suggested value), and 0 when
 * holdTime is 0; MetalLB accepts keepaliveTime == holdTime, Beacon's CRD refuses it. Adjusts the copied
 * fields on `out` and says so.
 */
function fixKeepalive(out: Json, warn: Warn): void {
  const keepalive = durationMs(out.keepaliveTime as string | undefined);
  if (keepalive === undefined || keepalive === 0) return;
  const holdText = out.holdTime as string | undefined;
  const hold = holdText === undefined ? 90_000 : durationMs(holdText);
  if (hold === undefined || keepalive < hold) return;
  if (hold === 0) {
    delete out.keepaliveTime;
    warn(
      'spec.keepaliveTime',
      `left out: with holdTime ${holdText} no keepalives are sent (Beacon refuses a keepaliveTime with a zero holdTime)`,
    );
    return;
  }
  const adjusted = seconds(Math.max(1, Math.floor(hold / 3000)));
  out.keepaliveTime = adjusted;
  warn(
    'spec.keepaliveTime',
    `was ${formatDuration(keepalive)}, not below holdTime ${holdText ?? '90s (the default)'}, which Beacon refuses; set to ${adjusted}, a third of the hold time (RFC 4271 4.4)`,
  );
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? seconds(ms / 1000) : `${ms}ms`;
}

function convertPeer(spec: Json, ctx: Context): Json | undefined {
  const { warn } = ctx;
  if (!spec.peerAddress && spec.interface) {
    warn(
      'spec.interface',
      'BGP unnumbered peering (over an interface, no peerAddress) is not supported by Beacon; this BGPPeer is left out',
    );
    return undefined;
  }
  if (spec.vrf) {
    // Opened from the default VRF, the session would reach another router or none: leaving the peer out is
    // the honest conversion until Beacon's speaker can bind a session to a VRF device.
    warn(
      'spec.vrf',
      `Beacon opens BGP sessions in the node's default VRF only and cannot peer through VRF ${String(spec.vrf)}; this BGPPeer is left out`,
    );
    return undefined;
  }
  // MetalLB's localASN is FRR's "local-as N no-prepend replace-as": the session presents N to this peer and
  // routes carry N alone. Beacon's myASN is per BGPPeer already, so N becomes myASN.
  const localAs = typeof spec.localASN === 'number' && spec.localASN > 0 ? spec.localASN : undefined;
  const myAs = localAs ?? spec.myASN;
  const ibgp = spec.dynamicASN === 'internal' || (spec.peerASN !== undefined && spec.peerASN === myAs);
  const out = mapSpec(
    spec,
    PEER_FIELDS,
    {
      peerASN(value, out) {
        // MetalLB v1beta2 leaves peerASN at 0 when dynamicASN is used.
        if (value !== 0 || !spec.dynamicASN) out.peerASN = value;
      },
      dynamicASN(value, out) {
        if (value === 'internal' || value === 'external') out.dynamicASN = value;
        else
          warn(
            'spec.dynamicASN',
            `"${String(value)}" is not a dynamicASN mode Beacon has (internal, external)`,
          );
      },
      ebgpMultiHop(value, out) {
        if (value === true && ibgp) {
          warn(
            'spec.ebgpMultiHop',
            'applies only to eBGP and this session is iBGP; left out (Beacon refuses it there)',
          );
        } else out.ebgpMultiHop = value;
      },
      passwordSecret(value, out) {
        if (!isObject(value) || !value.name) return;
        const from = (value.namespace as string | undefined) || ctx.sourceNamespace || METALLB_NAMESPACE;
        // Beacon's speaker reads Secrets in its own namespace only, so the reference never keeps another.
        out.passwordSecret = { name: value.name };
        warn(
          'spec.passwordSecret',
          `copy the Secret ${String(value.name)} from ${from} to ${ctx.namespace}, and let the speaker read it (Helm: speaker.peerPasswordSecrets; kustomize: the resourceNames of the beacon-speaker Role)`,
        );
      },
      vrf() {
        // Empty: a peer with a VRF was left out above.
      },
      interface(value) {
        if (value) warn('spec.interface', 'BGP unnumbered is not supported; peerAddress is used instead');
      },
      localASN(value) {
        if (localAs === undefined) return;
        warn(
          'spec.localASN',
          `carried over as myASN ${String(value)} (was ${String(spec.myASN)}): Beacon sets its AS per BGPPeer, so the session presents ${String(value)} and routes carry it alone in the AS_PATH, as MetalLB's local-as no-prepend replace-as does`,
        );
      },
      disableMP(value) {
        if (value === true)
          warn(
            'spec.disableMP',
            'Beacon offers IPv4 and IPv6 on every session (multiprotocol BGP) and cannot split them into separate sessions',
          );
      },
      dualStackAddressFamily(value) {
        // true is what Beacon does. false (MetalLB's default since v0.15, written out by the API server) kept
        // the session to its own family there; Beacon offers the other one too.
        if (value === false)
          warn(
            'spec.dualStackAddressFamily',
            "false is not carried over: MetalLB announced only the peer address's own family on this session, Beacon offers IPv4 and IPv6 on every session and announces IPv6 (IPv4) prefixes on an IPv4 (IPv6) session when the router accepts that family in its OPEN. Leave the family out of the router's neighbor configuration to keep the old behaviour",
          );
      },
    },
    warn,
  );
  // myASN comes first in MetalLB's objects; a localASN later in the spec replaces it.
  if (localAs !== undefined) out.myASN = localAs;
  fixHoldTime(spec, out, warn, ctx.legacy === true);
  fixKeepalive(out, warn);
  return out;
}

/** IPAddressPool's spec (and the pool part of a deprecated AddressPool's). */
function convertPoolSpec(spec: Json, warn: Warn): Json {
  return mapSpec(
    spec,
    ['addresses', 'autoAssign'],
    {
      avoidBuggyIPs(value, out) {
        out.avoidBuggyIPs = value;
        const v6 = Array.isArray(spec.addresses) && spec.addresses.some((a) => String(a).includes(':'));
        if (value === true && v6)
          warn(
            'spec.avoidBuggyIPs',
            'kept, but in Beacon it covers IPv6 too: MetalLB skipped only IPv4 addresses ending in .0 or .255, Beacon also never hands out an IPv6 address whose last 64 bits are zero, nor the first address of an IPv6 CIDR entry from /65 to /126 (MetalLB hands that one out first). Services holding such an address keep it; new Services do not get one',
          );
      },
      serviceAllocation(value, out) {
        if (!isObject(value)) return;
        // MetalLB reads priority 0 as "no priority", tried after every pool that has one; in Beacon 0 is the
        // first. Leaving it out keeps MetalLB's order.
        const { priority, ...rest } = value;
        const kept = priority === 0 ? rest : value;
        if (Object.keys(kept).length) out.serviceAllocation = kept;
      },
    },
    warn,
  );
}

function convertAddressPool(source: Json, spec: Json, ctx: Context): BeaconObject[] {
  const meta = metadataOf(source, ctx.namespace);
  const { protocol, bgpAdvertisements: advertisements, ...poolFields } = spec;
  const pool = convertPoolSpec(poolFields, ctx.warn);
  const out: BeaconObject[] = [
    { apiVersion: API_VERSION, kind: 'IPAddressPool', metadata: meta, spec: pool },
  ];
  const ad = (kind: string, suffix: string, adSpec: Json): BeaconObject => ({
    apiVersion: API_VERSION,
    kind,
    metadata: { name: `${meta.name}${suffix}`, namespace: ctx.namespace },
    spec: { ipAddressPools: [meta.name], ...adSpec },
  });
  if (protocol === 'layer2') out.push(ad('L2Advertisement', '', {}));
  else if (protocol === 'bgp') {
    const list = Array.isArray(advertisements) && advertisements.length ? advertisements : [{}];
    list.forEach((a, i) => {
      const fields = isObject(a) ? a : {};
      const adSpec = mapSpec(
        fields,
        ['aggregationLength', 'aggregationLengthV6', 'localPref', 'communities'],
        {},
        (f, m) => ctx.warn(`spec.bgpAdvertisements[${i}].${f.replace(/^spec\./, '')}`, m),
      );
      out.push(ad('BGPAdvertisement', list.length > 1 ? `-${i}` : '', adSpec));
    });
  } else
    ctx.warn('spec.protocol', `"${String(protocol)}" is neither layer2 nor bgp; only the pool is converted`);
  return out;
}

/** Kinds in metallb.io that carry state MetalLB writes, not configuration. */
const STATUS_KINDS = new Set(['ServiceL2Status', 'ServiceBGPStatus', 'ConfigurationState']);

function convertOne(doc: Json, ctx: Context): BeaconObject[] {
  const kind = String(doc.kind);
  const apiVersion = String(doc.apiVersion);
  const spec = isObject(doc.spec) ? doc.spec : {};
  const object = (s: Json): BeaconObject[] => [
    { apiVersion: API_VERSION, kind, metadata: metadataOf(doc, ctx.namespace), spec: s },
  ];
  switch (kind) {
    case 'IPAddressPool':
      return object(convertPoolSpec(spec, ctx.warn));
    case 'L2Advertisement':
      return object(
        mapSpec(
          spec,
          [...ADVERTISEMENT_FIELDS, 'interfaces'],
          {
            serviceSelectors: serviceSelectors('L2', ctx.warn),
            preferredNodeSelectors(value) {
              if (Array.isArray(value) && value.length === 0) return;
              ctx.warn(
                'spec.preferredNodeSelectors',
                'not carried over: Beacon does not weigh nodes; each Service is answered for by one of the nodes nodeSelectors allow, chosen by hashing the Service, whatever their labels',
              );
            },
          },
          ctx.warn,
        ),
      );
    case 'BGPAdvertisement':
      return object(
        mapSpec(
          spec,
          BGP_ADVERTISEMENT_FIELDS,
          { serviceSelectors: serviceSelectors('BGP', ctx.warn) },
          ctx.warn,
        ),
      );
    case 'BGPPeer': {
      const converted = convertPeer(spec, ctx);
      return converted ? object(converted) : [];
    }
    case 'BFDProfile':
      return object(
        mapSpec(
          spec,
          BFD_FIELDS,
          {
            echoMode(value, out) {
              out.echoMode = value;
              if (value === true)
                ctx.warn(
                  'spec.echoMode',
                  'kept, but Beacon does not send BFD echo packets; detection uses control packets',
                );
            },
          },
          ctx.warn,
        ),
      );
    case 'Community':
      return object(mapSpec(spec, ['communities'], {}, ctx.warn));
    case 'AddressPool':
      // v1alpha1 has the same fields but avoidBuggyIPs.
      if (apiVersion === `${METALLB_GROUP}/v1beta1` || apiVersion === `${METALLB_GROUP}/v1alpha1`) {
        // A legacy ConfigMap's pools are read as AddressPools; nothing deprecated was written there.
        if (!ctx.legacy)
          ctx.warn(
            '',
            'AddressPool is deprecated in MetalLB; converted to an IPAddressPool and its advertisement',
          );
        return convertAddressPool(doc, spec, ctx);
      }
      break;
  }
  if (STATUS_KINDS.has(kind)) {
    ctx.warn('', `${kind} is state MetalLB writes, not configuration; Beacon writes its own; skipped`);
    return [];
  }
  ctx.warn('', `${apiVersion} ${kind} has no Beacon equivalent; skipped`);
  return [];
}

/** Lists (`kubectl get ... -o yaml`) become their items. */
function flatten(docs: readonly unknown[]): unknown[] {
  return docs.flatMap((d) =>
    isObject(d) && Array.isArray(d.items) && String(d.kind).endsWith('List') ? flatten(d.items) : [d],
  );
}

/** Advertisements are referred to by no other object, in MetalLB or Beacon, so renaming one changes nothing. */
const RENAMEABLE_KINDS = new Set(['L2Advertisement', 'BGPAdvertisement']);

/**
 * Adds `converted` to `objects` unless its kind and name are taken: `kubectl apply` would let the later
 * object replace the earlier one. An advertisement gets a free name instead; anything else is left out.
 * `taken` maps kind/name to the MetalLB object it came from.
 */
function addUnique(
  objects: BeaconObject[],
  taken: Map<string, string>,
  converted: BeaconObject,
  source: string,
  warn: Warn,
): void {
  const key = (name: string) => `${converted.kind}/${name}`;
  const name = converted.metadata.name;
  const first = taken.get(key(name));
  if (first === undefined) {
    taken.set(key(name), source);
    objects.push(converted);
    return;
  }
  if (!RENAMEABLE_KINDS.has(converted.kind)) {
    warn(
      'metadata.name',
      `${key(name)} is converted from ${first} already; this one is left out (kubectl apply would let it replace that one): rename one of them and convert again`,
    );
    return;
  }
  let n = 2;
  while (taken.has(key(`${name}-${n}`))) n++;
  converted.metadata.name = `${name}-${n}`;
  taken.set(key(converted.metadata.name), source);
  objects.push(converted);
  warn(
    'metadata.name',
    `${key(name)} is converted from ${first} already; this one is named ${converted.metadata.name} (nothing refers to an advertisement by name)`,
  );
}

/**
 * How `o` breaks its kind's schema (what the API server would refuse before its CEL rules): a MetalLB
 * object MetalLB itself would have refused (no addresses, a number for a duration) is named here rather
 * than first by `kubectl apply`.
 */
export function schemaFaults(o: BeaconObject): SchemaFault[] {
  const spec = KINDS.find((k) => k.kind === o.kind)?.spec;
  if (!spec) return [{ path: '', message: `${o.kind} is not a kind Beacon is configured with` }];
  return structuralErrors(spec.json, o.spec, 'spec');
}

function namespaceOf(doc: Json): string | undefined {
  return isObject(doc.metadata) && typeof doc.metadata.namespace === 'string'
    ? doc.metadata.namespace
    : undefined;
}

function warnNamespace(ns: string | undefined, namespace: string, warn: Warn): void {
  if (ns && ns !== METALLB_NAMESPACE && ns !== namespace)
    warn('metadata.namespace', `was ${ns}; Beacon reads its configuration from ${namespace}`);
}

/**
 * MetalLB's legacy ConfigMap, read into MetalLB objects (legacy-config.ts) that go through convertOne like
 * any other; every warning names the legacy field (`peers[0].hold-time`) on the ConfigMap `object`.
 */
function convertLegacyConfigMap(
  doc: Json,
  object: string,
  ctx: Context,
  add: (converted: BeaconObject, source: string, warn: Warn) => void,
): void {
  const sourceNamespace = namespaceOf(doc);
  warnNamespace(sourceNamespace, ctx.namespace, ctx.warn);
  const legacy = readLegacyConfig(doc);
  for (const p of legacy.problems) ctx.warn(p.path, p.message);
  for (const item of legacy.items) {
    const warn: Warn = (field, message) => ctx.warn(legacyFieldPath(item.path, field), message);
    for (const converted of convertOne(item.document, { ...ctx, sourceNamespace, warn, legacy: true }))
      add(converted, `${object} ${item.path}`, warn);
  }
}

/** Converts parsed documents (objects from YAML or the API), in order. */
export function convertMetalLB(documents: readonly unknown[], opts: ConvertOptions): Conversion {
  const objects: BeaconObject[] = [];
  const warnings: Warning[] = [];
  const taken = new Map<string, string>();
  flatten(documents).forEach((doc, index) => {
    if (doc === null || doc === undefined) return;
    const label = (d: Json) => {
      const name = isObject(d.metadata) ? d.metadata.name : undefined;
      return d.kind && name ? `${String(d.kind)}/${String(name)}` : `document ${index + 1}`;
    };
    if (!isObject(doc)) {
      warnings.push({ object: `document ${index + 1}`, field: '', message: 'not an object; skipped' });
      return;
    }
    const object = label(doc);
    const warn: Warn = (field, message) => warnings.push({ object, field, message });
    const add = (converted: BeaconObject, source: string, w: Warn) =>
      addUnique(objects, taken, converted, source, w);
    if (isLegacyConfigMap(doc)) {
      convertLegacyConfigMap(
        doc,
        object,
        { namespace: opts.namespace, sourceNamespace: undefined, warn },
        add,
      );
      return;
    }
    const apiVersion = String(doc.apiVersion ?? '');
    if (doc.kind === 'Service' && apiVersion === 'v1') {
      warn(
        '',
        'Services need no change: Beacon honours the metallb.universe.tf/* and metallb.io/* annotations; skipped',
      );
      return;
    }
    if (!apiVersion.startsWith(`${METALLB_GROUP}/`)) {
      warn('', `${apiVersion || 'no apiVersion'} ${String(doc.kind ?? '')}: not a MetalLB object; skipped`);
      return;
    }
    if (!isObject(doc.metadata) || typeof doc.metadata.name !== 'string') {
      warn('metadata.name', 'missing; skipped');
      return;
    }
    const ns = namespaceOf(doc);
    warnNamespace(ns, opts.namespace, warn);
    const source = `${object}${ns ? ` in ${ns}` : ''}`;
    for (const converted of convertOne(doc, { namespace: opts.namespace, sourceNamespace: ns, warn }))
      add(converted, source, warn);
  });
  for (const o of objects)
    for (const fault of schemaFaults(o))
      warnings.push({
        object: `${o.kind}/${o.metadata.name}`,
        field: fault.path,
        message: `Beacon's CRD refuses the converted object: ${fault.message}`,
      });
  return { objects, warnings };
}
