/**
 * MetalLB's legacy ConfigMap (before v0.13) through `beacon migrate`. The expected objects are written by
 * hand from what MetalLB v0.12 documented each legacy field to mean, never taken from the converter.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BeaconObject, convertMetalLB, schemaFaults } from './convert.ts';
import { parseDocuments } from './yaml.ts';

const fixture = (name: string) =>
  convertMetalLB(parseDocuments(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8'), name), {
    namespace: 'beacon-system',
  });
const good = fixture('metallb-legacy-config.yaml');
const bad = fixture('metallb-legacy-bad.yaml');

const object = (apiKind: string, name: string, spec: Record<string, unknown>): BeaconObject => ({
  apiVersion: 'beacon.dev/v1alpha1',
  kind: apiKind,
  metadata: { name, namespace: 'beacon-system' },
  spec,
});

test("every section of MetalLB's legacy ConfigMap converts to the Beacon objects its fields meant", () => {
  assert.deepEqual(good.objects, [
    object('BFDProfile', 'fast', {
      receiveInterval: 100,
      transmitInterval: 100,
      detectMultiplier: 5,
      echoInterval: 50,
      echoMode: false,
      passiveMode: true,
      minimumTtl: 250,
    }),
    // Legacy peers have no names: each is named by its place in the list.
    object('BGPPeer', 'peer-1', {
      peerAddress: '10.0.0.1',
      peerASN: 64501,
      myASN: 64500,
      peerPort: 1179,
      sourceAddress: '10.0.0.2',
      holdTime: '120s',
      keepaliveTime: '30s',
      routerID: '10.0.0.2',
      password: 'yourPassword',
      bfdProfile: 'fast',
      ebgpMultiHop: true,
      nodeSelectors: [
        {
          matchLabels: { 'kubernetes.io/hostname': 'prod-01' },
          matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64', 'arm'] }],
        },
      ],
    }),
    // MetalLB v0.12 kept its 90s hold time when only the keepalive was given (not three times the keepalive,
    // as the CRDs of v0.14 do), so 90s is written out.
    object('BGPPeer', 'peer-2', {
      peerAddress: '10.0.0.5',
      peerASN: 64500,
      myASN: 64500,
      keepaliveTime: '20s',
      holdTime: '90s',
    }),
    // In the ConfigMap an unset hold time was an empty string, so a written 0s really meant "no hold timer".
    object('BGPPeer', 'peer-3', {
      peerAddress: '2001:db8::1',
      peerASN: 64502,
      myASN: 64500,
      holdTime: '0s',
    }),
    // protocol: layer2 announced every address of the pool by ARP/NDP.
    object('IPAddressPool', 'lan', { addresses: ['192.168.1.240/28', '192.168.1.100-192.168.1.110'] }),
    object('L2Advertisement', 'lan', { ipAddressPools: ['lan'] }),
    object('IPAddressPool', 'public', {
      addresses: ['198.51.100.0/24'],
      autoAssign: false,
      avoidBuggyIPs: true,
    }),
    // Community names are the values bgp-communities gave them; literals stay as they are.
    object('BGPAdvertisement', 'public-0', {
      ipAddressPools: ['public'],
      aggregationLength: 32,
      localPref: 100,
      communities: ['64500:100', '64500:200'],
    }),
    object('BGPAdvertisement', 'public-1', {
      ipAddressPools: ['public'],
      aggregationLength: 24,
      aggregationLengthV6: 64,
      communities: ['65535:65282'],
    }),
    object('IPAddressPool', 'plain-bgp', { addresses: ['2001:db8:1::/120'] }),
    // A BGP pool without bgp-advertisements had one default advertisement: /32 (/128), no attributes.
    object('BGPAdvertisement', 'plain-bgp', { ipAddressPools: ['plain-bgp'] }),
  ]);
  assert.deepEqual(good.warnings, []);
  for (const o of good.objects) assert.deepEqual(schemaFaults(o), [], `${o.kind}/${o.metadata.name}`);
});

const badWarning = (field: string) =>
  bad.warnings.find((w) => w.object === 'ConfigMap/config' && w.field === field)?.message;

test('a mistake in a legacy ConfigMap is named by its pool or peer and field; everything valid still converts', () => {
  assert.deepEqual(
    bad.objects.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'BGPPeer/peer-5',
      'IPAddressPool/good',
      'L2Advertisement/good',
      'IPAddressPool/extra-key',
      'L2Advertisement/extra-key',
    ],
  );
  const expected: [string, RegExp][] = [
    ['peers[0].peer-address', /peer 1.*"10\.0\.0\.300" is not an IP address.*left out/],
    ['peers[1].peer-asn', /peer 2 \(10\.0\.0\.9\).*missing.*left out/],
    ['peers[2].bfd-profile', /peer 3 \(10\.0\.0\.10\).*"missing" is not in bfd-profiles.*left out/],
    ['peers[3].hold-time', /peer 4 \(10\.0\.0\.11\).*90.*not a duration.*left out/],
    ['bgp-communities.broken', /"70000:1" is not a community/],
    ['bgp-communities.unused', /no advertisement uses it/],
    ['address-pools[0].protocol', /pool odd.*"layer3".*neither layer2 nor bgp.*left out/],
    ['address-pools[1].addresses[1]', /pool bad-address.*192\.0\.2\.300\/32.*left out/],
    [
      'address-pools[2].bgp-advertisements[0].communities[0]',
      /pool undefined-community.*"gold" is not defined in bgp-communities.*left out/,
    ],
    ['address-pools[3].bgp-advertisements[0].communities[0]', /pool broken-community.*"broken".*left out/],
    ['address-pools[4].bgp-advertisements', /pool l2-with-advertisements.*layer2.*left out/],
    ['address-pools[6].name', /pool good.*second time.*left out/],
    ['address-pools[7].name', /missing.*left out/],
    ['address-pools[8].arp-network', /pool extra-key.*not a field of MetalLB's legacy configuration/],
    ['peer-autodiscovery', /not supported/],
  ];
  for (const [field, message] of expected) {
    const got = badWarning(field);
    assert.ok(got, `a warning for ${field}: ${JSON.stringify(bad.warnings, null, 1)}`);
    assert.match(got, message, field);
  }
  assert.equal(
    bad.warnings.filter((w) => w.object === 'ConfigMap/config' && w.field !== 'metadata.namespace').length,
    expected.length + 2,
    'and nothing else but the two ConfigMaps that are not a configuration at all',
  );
});

test('a legacy ConfigMap whose config is not a YAML map is named with what it holds instead', () => {
  const problems = bad.warnings.filter((w) => w.field === 'data.config').map((w) => w.message);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /not a map/);
  // The text is `address-pools: [` and a newline: the missing ] is found at the end, on line 2.
  assert.match(problems[1]!, /^not YAML \(line 2\): .*end with a \]/);
});

test('a legacy ConfigMap outside metallb-system is converted into the namespace asked for, with a warning', () => {
  assert.match(
    bad.warnings.find((w) => w.field === 'metadata.namespace' && /was metallb;/.test(w.message))!.message,
    /beacon-system/,
  );
});

test("what the rules for MetalLB's objects change in a legacy peer or pool is named by the legacy field", () => {
  const config = [
    'peers:',
    '- {peer-address: 10.1.0.1, peer-asn: 64500, my-asn: 64500, ebgp-multihop: true}',
    '- {peer-address: 10.1.0.2, peer-asn: 64501, my-asn: 64500, hold-time: 30s, keepalive-time: 30s}',
    'address-pools:',
    '- {name: dual, protocol: bgp, avoid-buggy-ips: true, addresses: [10.1.1.0/24, "2001:db8:5::/120"]}',
  ].join('\n');
  const r = convertMetalLB(
    [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config' }, data: { config } }],
    { namespace: 'beacon-system' },
  );
  // Multi-hop applies to eBGP only (RFC 4271 leaves iBGP sessions free of the TTL limit).
  assert.deepEqual(r.objects[0]!.spec, { peerAddress: '10.1.0.1', peerASN: 64500, myASN: 64500 });
  // The keepalive must stay below the hold time; a third of it is RFC 4271's suggestion.
  assert.deepEqual(r.objects[1]!.spec, {
    peerAddress: '10.1.0.2',
    peerASN: 64501,
    myASN: 64500,
    holdTime: '30s',
    keepaliveTime: '10s',
  });
  assert.deepEqual(
    r.warnings.map((w) => `${w.object} ${w.field}`),
    [
      'ConfigMap/config peers[0].ebgp-multihop',
      'ConfigMap/config peers[1].keepalive-time',
      'ConfigMap/config address-pools[0].avoid-buggy-ips',
    ],
  );
  assert.match(r.warnings[2]!.message, /IPv6/);
});

test("another application's ConfigMap named config is not taken for MetalLB's", () => {
  const r = convertMetalLB(
    [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'config', namespace: 'shop' },
        data: { config: 'log-level: debug\npeers-allowed: 3\n' },
      },
    ],
    { namespace: 'beacon-system' },
  );
  assert.deepEqual(r.objects, []);
  assert.deepEqual(
    r.warnings.map((w) => `${w.object} ${w.field}: ${w.message}`),
    ['ConfigMap/config : v1 ConfigMap: not a MetalLB object; skipped'],
  );
});
