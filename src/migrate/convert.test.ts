import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { type BeaconObject, convertMetalLB, type Warning } from './convert.ts';
import { migrateYaml, parseDocuments, toYaml } from './yaml.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const examples = convertMetalLB(parseDocuments(fixture('metallb-examples.yaml'), 'examples'), {
  namespace: 'beacon-system',
});
const unsupported = convertMetalLB(parseDocuments(fixture('metallb-unsupported.yaml'), 'unsupported'), {
  namespace: 'beacon-system',
});

function find(objects: BeaconObject[], kind: string, name: string): BeaconObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} was converted`);
  return o;
}
const warningsFor = (warnings: Warning[], object: string) => warnings.filter((w) => w.object === object);

test('every MetalLB kind converts to a beacon.dev/v1alpha1 object in beacon-system', () => {
  assert.deepEqual(
    examples.objects.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'IPAddressPool/production',
      'IPAddressPool/reserved',
      'L2Advertisement/lan',
      'BGPAdvertisement/upstream',
      'BGPPeer/tor-a',
      'BGPPeer/route-reflector',
      'BGPPeer/legacy-peer',
      'BFDProfile/fast',
      'Community/aliases',
      'IPAddressPool/old-l2',
      'L2Advertisement/old-l2',
      'IPAddressPool/old-bgp',
      'BGPAdvertisement/old-bgp-0',
      'BGPAdvertisement/old-bgp-1',
    ],
  );
  for (const o of examples.objects) {
    assert.equal(o.apiVersion, 'beacon.dev/v1alpha1');
    assert.equal(o.metadata.namespace, 'beacon-system');
  }
});

test('fields with the same meaning are carried over unchanged, labels too', () => {
  const source = parseDocuments(fixture('metallb-examples.yaml'), 'examples') as {
    kind: string;
    metadata: { name: string };
    spec: unknown;
  }[];
  for (const [kind, name] of [
    ['IPAddressPool', 'production'],
    ['L2Advertisement', 'lan'],
    ['BGPAdvertisement', 'upstream'],
    ['BFDProfile', 'fast'],
    ['Community', 'aliases'],
    ['BGPPeer', 'legacy-peer'],
  ] as const) {
    const original = source.find((d) => d.kind === kind && d.metadata.name === name)!;
    assert.deepEqual(find(examples.objects, kind, name).spec, original.spec, `${kind}/${name}`);
  }
  assert.deepEqual(find(examples.objects, 'IPAddressPool', 'production').metadata.labels, { tier: 'public' });
});

test('a v1beta2 BGPPeer keeps its timers, BFD, graceful restart and eBGP multi-hop; the Secret reference loses the MetalLB namespace', () => {
  assert.deepEqual(find(examples.objects, 'BGPPeer', 'tor-a').spec, {
    myASN: 64500,
    peerASN: 64501,
    peerAddress: '192.0.2.254',
    sourceAddress: '192.0.2.1',
    peerPort: 179,
    holdTime: '90s',
    keepaliveTime: '30s',
    connectTime: '10s',
    routerID: '10.0.0.1',
    passwordSecret: { name: 'tor-a-password' },
    bfdProfile: 'fast',
    enableGracefulRestart: true,
    ebgpMultiHop: true,
    nodeSelectors: [{ matchLabels: { rack: 'a' } }],
  });
  assert.deepEqual(find(examples.objects, 'BGPPeer', 'route-reflector').spec, {
    myASN: 64500,
    dynamicASN: 'internal',
    peerAddress: '2001:db8::1',
  });
});

test('on the clean examples, the only warnings are the Secret to copy, avoidBuggyIPs on IPv6, and the deprecated AddressPools', () => {
  assert.deepEqual(
    examples.warnings.map((w) => `${w.object} ${w.field}`),
    [
      'IPAddressPool/production spec.avoidBuggyIPs',
      'BGPPeer/tor-a spec.passwordSecret',
      'AddressPool/old-l2 ',
      'AddressPool/old-bgp ',
    ],
  );
  const secret = examples.warnings.find((w) => w.field === 'spec.passwordSecret')!.message;
  assert.match(secret, /copy the Secret tor-a-password from metallb-system to beacon-system/);
  assert.match(secret, /peerPasswordSecrets/);
});

test('a deprecated AddressPool becomes a pool plus the advertisement its protocol implied', () => {
  assert.deepEqual(find(examples.objects, 'L2Advertisement', 'old-l2').spec, { ipAddressPools: ['old-l2'] });
  assert.deepEqual(find(examples.objects, 'IPAddressPool', 'old-bgp').spec, {
    addresses: ['198.51.100.128/25'],
    avoidBuggyIPs: true,
  });
  assert.deepEqual(find(examples.objects, 'BGPAdvertisement', 'old-bgp-0').spec, {
    ipAddressPools: ['old-bgp'],
    aggregationLength: 32,
    localPref: 50,
    communities: ['64512:100'],
  });
  assert.deepEqual(find(examples.objects, 'BGPAdvertisement', 'old-bgp-1').spec, {
    ipAddressPools: ['old-bgp'],
    aggregationLength: 25,
  });
});

test('--namespace puts every object in the namespace asked for', () => {
  const r = convertMetalLB(parseDocuments(fixture('metallb-examples.yaml'), 'examples'), { namespace: 'lb' });
  assert.ok(r.objects.every((o) => o.metadata.namespace === 'lb'));
  assert.match(r.warnings.find((w) => w.field === 'spec.passwordSecret')!.message, /to lb,/);
});

test('each field Beacon lacks is named in a warning and left out of the output', () => {
  const peer = find(unsupported.objects, 'BGPPeer', 'odd-peer');
  assert.deepEqual(peer.spec, { myASN: 64500, peerASN: 64500, peerAddress: '10.1.0.1' });
  const fields = warningsFor(unsupported.warnings, 'BGPPeer/odd-peer').map((w) => w.field);
  assert.deepEqual(fields.sort(), ['spec.disableMP', 'spec.ebgpMultiHop', 'spec.someFutureField']);
  const message = (field: string) =>
    warningsFor(unsupported.warnings, 'BGPPeer/odd-peer').find((w) => w.field === field)!.message;
  assert.match(message('spec.ebgpMultiHop'), /iBGP/);
  assert.match(message('spec.someFutureField'), /not a field this converter knows/);
});

test('server-set metadata and kubectl’s last-applied record are dropped; user annotations kept', () => {
  assert.deepEqual(find(unsupported.objects, 'BGPPeer', 'odd-peer').metadata, {
    name: 'odd-peer',
    namespace: 'beacon-system',
    annotations: { owner: 'netops' },
  });
});

test('an unnumbered peer (interface, no address) is left out with a warning', () => {
  assert.ok(!unsupported.objects.some((o) => o.metadata.name === 'unnumbered'));
  const [w] = warningsFor(unsupported.warnings, 'BGPPeer/unnumbered');
  assert.equal(w?.field, 'spec.interface');
  assert.match(w!.message, /unnumbered/);
});

test('serviceSelectors on advertisements are reported: Beacon announces every Service of the pools', () => {
  assert.deepEqual(find(unsupported.objects, 'L2Advertisement', 'some-services').spec, {
    ipAddressPools: ['production'],
  });
  assert.deepEqual(find(unsupported.objects, 'BGPAdvertisement', 'some-services-bgp').spec, {});
  for (const name of ['L2Advertisement/some-services', 'BGPAdvertisement/some-services-bgp']) {
    const [w] = warningsFor(unsupported.warnings, name);
    assert.equal(w?.field, 'spec.serviceSelectors');
  }
});

test('echo mode is kept with a warning, and a namespace other than metallb-system is reported', () => {
  assert.deepEqual(find(unsupported.objects, 'BFDProfile', 'echo').spec, {
    echoMode: true,
    echoInterval: 60,
  });
  assert.deepEqual(
    warningsFor(unsupported.warnings, 'BFDProfile/echo').map((w) => w.field),
    ['metadata.namespace', 'spec.echoMode'],
  );
});

test("the legacy ConfigMap converts by the same rules as MetalLB's objects; status kinds and Services are skipped", () => {
  // address-pools: [{name: default, protocol: layer2, addresses: [192.0.2.240/28]}]: a pool announced by ARP.
  assert.deepEqual(find(unsupported.objects, 'IPAddressPool', 'default').spec, {
    addresses: ['192.0.2.240/28'],
  });
  assert.deepEqual(find(unsupported.objects, 'L2Advertisement', 'default').spec, {
    ipAddressPools: ['default'],
  });
  assert.deepEqual(warningsFor(unsupported.warnings, 'ConfigMap/config'), []);
  assert.match(
    warningsFor(unsupported.warnings, 'ServiceL2Status/l2-abc')[0]!.message,
    /state MetalLB writes/,
  );
  assert.match(warningsFor(unsupported.warnings, 'Service/web')[0]!.message, /annotations/);
  assert.deepEqual(
    unsupported.objects.map((o) => o.kind),
    ['BGPPeer', 'L2Advertisement', 'BGPAdvertisement', 'BFDProfile', 'IPAddressPool', 'L2Advertisement'],
  );
});

test('the YAML output parses back to the converted objects', () => {
  const { yaml, warnings } = migrateYaml(fixture('metallb-examples.yaml'), 'examples', {
    namespace: 'beacon-system',
  });
  assert.equal(warnings.length, examples.warnings.length);
  assert.deepEqual(
    yaml.split(/^---$/m).map((d) => parse(d)),
    examples.objects,
  );
  assert.equal(toYaml({ objects: [], warnings: [] }), '');
});

test('a YAML syntax error names the source and document', () => {
  assert.throws(() => parseDocuments('a: 1\n---\nb: [\n', 'in.yaml'), /in\.yaml: document 2/);
});

const samples = convertMetalLB(parseDocuments(fixture('metallb-samples.yaml'), 'samples'), {
  namespace: 'beacon-system',
});
const sampleWarning = (object: string, field: string) =>
  samples.warnings.find((w) => w.object === object && w.field === field)?.message;

test("MetalLB's samples: a peer in a VRF is left out with a warning, not turned into a default-VRF session", () => {
  assert.ok(!samples.objects.some((o) => o.metadata.name === 'peer-in-vrf'));
  assert.match(sampleWarning('BGPPeer/peer-in-vrf', 'spec.vrf')!, /VRF red; this BGPPeer is left out/);
  // And the VRF peer among the unsupported examples (kubectl's List output).
  assert.ok(!unsupported.objects.some((o) => o.metadata.name === 'in-vrf'));
  assert.match(warningsFor(unsupported.warnings, 'BGPPeer/in-vrf')[0]!.message, /default VRF only/);
});

test("MetalLB's samples: localASN is the AS the session presents, so it becomes myASN, with a warning", () => {
  // local-as N no-prepend replace-as: the router sees N in the OPEN and alone in the AS_PATH.
  assert.deepEqual(find(samples.objects, 'BGPPeer', 'local-as').spec, {
    myASN: 65010,
    peerASN: 64600,
    peerAddress: '172.30.0.7',
    ebgpMultiHop: true,
  });
  assert.match(sampleWarning('BGPPeer/local-as', 'spec.localASN')!, /myASN 65010 \(was 64512\)/);
});

test("MetalLB's samples: a keepalive not below the hold time becomes a third of it, with a warning", () => {
  assert.equal(find(samples.objects, 'BGPPeer', 'keepalive-equals-hold').spec.keepaliveTime, '10s');
  assert.equal(find(samples.objects, 'BGPPeer', 'keepalive-equals-hold').spec.holdTime, '30s');
  assert.match(sampleWarning('BGPPeer/keepalive-equals-hold', 'spec.keepaliveTime')!, /was 30s.*set to 10s/);
  // No holdTime: MetalLB derives it as three times the keepalive (tested below), so the keepalive stays.
  // keepaliveTime 0s (the default) with a hold time in minutes is kept as it is.
  const secret = find(samples.objects, 'BGPPeer', 'peer-with-secret').spec;
  assert.equal(secret.holdTime, '9m0s');
  assert.equal(secret.keepaliveTime, '0s');
  assert.equal(sampleWarning('BGPPeer/peer-with-secret', 'spec.keepaliveTime'), undefined);
});

test("MetalLB's samples: a passwordSecret in another namespace is named without it, and the warning says to copy it", () => {
  assert.deepEqual(find(samples.objects, 'BGPPeer', 'secret-elsewhere').spec.passwordSecret, {
    name: 'tor-auth',
  });
  assert.match(
    sampleWarning('BGPPeer/secret-elsewhere', 'spec.passwordSecret')!,
    /copy the Secret tor-auth from netops to beacon-system/,
  );
});

test('a legacy ConfigMap holding only bfd-profiles or only bgp-communities is read; another ConfigMap is not', () => {
  // bfd-profiles: [{name: full1, receive-interval: 179, transmit-interval: 180}]
  assert.deepEqual(find(samples.objects, 'BFDProfile', 'full1').spec, {
    receiveInterval: 179,
    transmitInterval: 180,
  });
  // A community name no advertisement uses has nothing to become: advertisements carry the value.
  assert.match(
    sampleWarning('ConfigMap/config-communities', 'bgp-communities.no-advertise')!,
    /no advertisement uses it/,
  );
  assert.match(sampleWarning('ConfigMap/app-settings', '')!, /not a MetalLB object/);
});

test("MetalLB's samples: every other object converts with its fields as they were", () => {
  assert.deepEqual(
    samples.objects.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'IPAddressPool/ns-service-alloc',
      'IPAddressPool/bgp-with-advertisement',
      'BGPAdvertisement/communities-localpref',
      'BGPAdvertisement/community-alias',
      'Community/community1',
      'BGPAdvertisement/node-selector',
      'BGPPeer/session-options',
      'BFDProfile/testbfdprofile',
      'BGPPeer/with-bfd',
      'BGPPeer/peer-with-secret',
      'BGPPeer/local-as',
      'BGPPeer/keepalive-equals-hold',
      'BGPPeer/keepalive-above-default-hold',
      'BGPPeer/secret-elsewhere',
      'BFDProfile/full1',
    ],
  );
  assert.deepEqual(find(samples.objects, 'BGPPeer', 'session-options').spec, {
    myASN: 64512,
    peerASN: 64512,
    peerAddress: '172.30.0.3',
    connectTime: '120s',
  });
});

const meanings = convertMetalLB(parseDocuments(fixture('metallb-field-meanings.yaml'), 'meanings'), {
  namespace: 'beacon-system',
});
const meaningWarning = (object: string, field: string) =>
  meanings.warnings.find((w) => w.object === object && w.field === field)?.message;

test('holdTime 0s from a MetalLB v0.13 object (an unset Go duration, 90 s there) is not copied as 0, which disables the hold timer in Beacon', () => {
  assert.deepEqual(find(meanings.objects, 'BGPPeer', 'v013-peer').spec, {
    myASN: 64500,
    peerASN: 64501,
    peerAddress: '10.0.0.1',
    keepaliveTime: '0s',
    nodeSelectors: [{ matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'Exists', values: [] }] }],
  });
  assert.match(meaningWarning('BGPPeer/v013-peer', 'spec.holdTime')!, /0s.*90s/);
});

test('a keepaliveTime without holdTime gets the hold time MetalLB derives from it, three times the keepalive', () => {
  assert.deepEqual(find(meanings.objects, 'BGPPeer', 'keepalive-only').spec, {
    myASN: 64500,
    peerASN: 64501,
    peerAddress: '10.0.0.2',
    keepaliveTime: '20s',
    holdTime: '60s',
  });
  assert.match(meaningWarning('BGPPeer/keepalive-only', 'spec.holdTime')!, /60s.*three times/);
  assert.deepEqual(
    [
      find(samples.objects, 'BGPPeer', 'keepalive-above-default-hold').spec.keepaliveTime,
      find(samples.objects, 'BGPPeer', 'keepalive-above-default-hold').spec.holdTime,
    ],
    ['2m', '360s'],
  );
});

test('dualStackAddressFamily false is reported: Beacon offers both families on every session', () => {
  assert.deepEqual(find(meanings.objects, 'BGPPeer', 'single-family').spec, {
    myASN: 64500,
    peerASN: 64501,
    peerAddress: '10.0.0.3',
  });
  assert.match(meaningWarning('BGPPeer/single-family', 'spec.dualStackAddressFamily')!, /IPv6/);
  assert.equal(meaningWarning('BGPPeer/single-family', 'spec.disableMP'), undefined);
});

test('serviceAllocation.priority 0 is MetalLB’s "no priority" (tried last), so it is not copied as Beacon’s first', () => {
  assert.deepEqual(find(meanings.objects, 'IPAddressPool', 'priority-zero').spec, {
    addresses: ['10.20.0.0/24'],
  });
  assert.deepEqual(find(meanings.objects, 'IPAddressPool', 'tenant-a').spec, {
    addresses: ['10.21.0.0/24'],
    serviceAllocation: { namespaces: ['tenant-a'] },
  });
});

test('avoidBuggyIPs on a pool with IPv6 addresses is reported: Beacon also skips IPv6 addresses MetalLB hands out', () => {
  assert.deepEqual(find(meanings.objects, 'IPAddressPool', 'dual-stack-buggy').spec, {
    addresses: ['10.22.0.0/24', '2001:db8:22::/120'],
    avoidBuggyIPs: true,
  });
  assert.match(meaningWarning('IPAddressPool/dual-stack-buggy', 'spec.avoidBuggyIPs')!, /IPv6/);
});

test('a metallb.io/v1alpha1 AddressPool converts like the v1beta1 one', () => {
  assert.deepEqual(find(meanings.objects, 'IPAddressPool', 'alpha-bgp').spec, {
    addresses: ['10.23.0.0/24'],
    autoAssign: false,
  });
  assert.deepEqual(find(meanings.objects, 'BGPAdvertisement', 'alpha-bgp').spec, {
    ipAddressPools: ['alpha-bgp'],
    aggregationLength: 24,
    localPref: 100,
    communities: ['65535:65282'],
  });
});

test('two objects that would share a kind and name: an advertisement is renamed, anything else is left out, each with a warning', () => {
  const names = meanings.objects.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.equal(new Set(names).size, names.length, `no kind/name twice: ${names.join(', ')}`);
  assert.deepEqual(find(meanings.objects, 'L2Advertisement', 'lan').spec, { ipAddressPools: ['lan'] });
  assert.deepEqual(find(meanings.objects, 'L2Advertisement', 'lan-2').spec, {
    ipAddressPools: ['priority-zero'],
  });
  assert.match(meaningWarning('L2Advertisement/lan', 'metadata.name')!, /lan-2/);
  // The first tenant-a pool stays; the one from metallb-tenants is left out, not merged into it.
  assert.deepEqual(find(meanings.objects, 'IPAddressPool', 'tenant-a').spec.addresses, ['10.21.0.0/24']);
  assert.match(meaningWarning('IPAddressPool/tenant-a', 'metadata.name')!, /left out/);
});

test('preferredNodeSelectors is named with what changes: Beacon does not weigh nodes', () => {
  assert.match(meaningWarning('L2Advertisement/lan', 'spec.preferredNodeSelectors')!, /weigh/);
});

test("what Beacon's CRD would refuse is named at conversion, not first by kubectl apply", () => {
  const r = convertMetalLB(
    [
      { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'empty' }, spec: {} },
      {
        apiVersion: 'metallb.io/v1beta2',
        kind: 'BGPPeer',
        metadata: { name: 'no-address' },
        spec: { myASN: 64500, peerASN: 64501, holdTime: 90 },
      },
    ],
    { namespace: 'beacon-system' },
  );
  assert.deepEqual(
    r.warnings.map((w) => `${w.object} ${w.field}: ${w.message}`),
    [
      "IPAddressPool/empty spec.addresses: Beacon's CRD refuses the converted object: missing required field addresses",
      "BGPPeer/no-address spec.peerAddress: Beacon's CRD refuses the converted object: missing required field peerAddress",
      "BGPPeer/no-address spec.holdTime: Beacon's CRD refuses the converted object: must be a string",
    ],
  );
});
