/**
 * The CRDs against a real kube-apiserver: they install, valid objects of every kind are accepted, and
 * invalid ones are refused by the schema or its CEL rules with a message that names the field.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { KINDS } from '../src/api/crds/kinds.ts';
import { type ApiServer, startApiServer } from './harness/apiserver.ts';
import { REPO_ROOT } from './harness/binaries.ts';
import { installCrds } from './harness/crds.ts';

let api: ApiServer;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  await api.kubectl(['create', 'namespace', 'beacon-system']);
});
after(() => api?.stop());

const NS = 'beacon-system';
type Obj = Record<string, unknown> & {
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
};

function example(kind: string): Obj {
  const file = join(REPO_ROOT, 'examples', `${kind.toLowerCase()}.yaml`);
  return parse(readFileSync(file, 'utf8')) as Obj;
}

let counter = 0;
/** An example of `kind` with a fresh name and `change` applied to its spec. */
function variant(kind: string, change: (spec: Record<string, unknown>) => void): Obj {
  const obj = structuredClone(example(kind));
  obj.metadata.name = `case-${++counter}`;
  change(obj.spec);
  return obj;
}

async function apply(obj: Obj) {
  return api.kubectl(['apply', '-f', '-'], stringify(obj));
}

test('every CRD is Established and served', async () => {
  const res = await api.kubectl([
    'get',
    'crd',
    '-o',
    'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}',
  ]);
  const names = res.stdout.trim().split('\n');
  for (const k of KINDS)
    assert.ok(names.includes(`${k.plural}.beacon.dev`), `${k.plural}.beacon.dev missing`);
  const resources = await api.kubectl(['api-resources', '--api-group=beacon.dev', '-o', 'name']);
  assert.equal(resources.stdout.trim().split('\n').length, KINDS.length);
});

test('a valid example of every kind is accepted', async () => {
  const files = readdirSync(join(REPO_ROOT, 'examples')).filter((f) => f.endsWith('.yaml'));
  const configKinds = KINDS.filter((k) => k.spec);
  assert.equal(files.length, configKinds.length, 'one example per configuration kind');
  for (const k of configKinds) {
    const res = await apply(example(k.kind));
    assert.equal(res.code, 0, `${k.kind} example refused: ${res.stderr}`);
  }
});

test('valid edge cases are accepted', async () => {
  const ok: [string, Obj][] = [
    [
      'IPv6 range written in compressed and full forms',
      variant('IPAddressPool', (s) => {
        s.addresses = [
          '2001:db8::1-2001:0db8:0000:0000:0000:0000:0000:00ff',
          '2001:db8:1::-2001:db8:1::ffff',
        ];
      }),
    ],
    [
      'single-address range',
      variant('IPAddressPool', (s) => {
        s.addresses = ['192.0.2.7-192.0.2.7'];
      }),
    ],
    [
      'range with spaces around the dash',
      variant('IPAddressPool', (s) => {
        s.addresses = ['192.0.2.1 - 192.0.2.9'];
      }),
    ],
    [
      'range whose ends differ only in the last octet digit count',
      variant('IPAddressPool', (s) => {
        s.addresses = ['192.0.2.9-192.0.2.10'];
      }),
    ],
    [
      'IPv6 /64',
      variant('IPAddressPool', (s) => {
        s.addresses = ['2001:db8:ffff::/64'];
      }),
    ],
    [
      'hold time 0 with keepalive 0',
      variant('BGPPeer', (s) => {
        s.holdTime = '0s';
        s.keepaliveTime = '0s';
      }),
    ],
    [
      '2-byte ASNs and iBGP',
      variant('BGPPeer', (s) => {
        s.myASN = 64512;
        s.peerASN = 64512;
      }),
    ],
    [
      'GTSM for a router on the link',
      variant('BGPPeer', (s) => {
        s.ttlSecurity = 1;
      }),
    ],
    [
      'a well-known name defined with its registered value, as MetalLB documents it',
      variant('Community', (s) => {
        s.communities = [{ name: 'NO_ADVERTISE', value: '65535:65282' }];
      }),
    ],
    [
      'dynamicASN instead of peerASN',
      variant('BGPPeer', (s) => {
        delete s.peerASN;
        s.dynamicASN = 'external';
      }),
    ],
  ];
  for (const [why, obj] of ok) {
    const res = await apply(obj);
    assert.equal(res.code, 0, `${why}: refused: ${res.stderr}`);
  }
});

describe('invalid objects are refused with a message naming the field', () => {
  const del = (key: string) => (s: Record<string, unknown>) => {
    delete s[key];
  };
  const set = (key: string, value: unknown) => (s: Record<string, unknown>) => {
    s[key] = value;
  };
  const cases: {
    why: string;
    kind: string;
    change: (s: Record<string, unknown>) => void;
    field: string;
    says: RegExp;
  }[] = [
    {
      why: 'bad CIDR',
      kind: 'IPAddressPool',
      change: set('addresses', ['192.0.2.0/33']),
      field: 'spec.addresses[0]',
      says: /neither a CIDR/,
    },
    {
      why: 'not an address at all',
      kind: 'IPAddressPool',
      change: set('addresses', ['banana']),
      field: 'spec.addresses[0]',
      says: /neither a CIDR/,
    },
    {
      why: 'bare address without prefix length',
      kind: 'IPAddressPool',
      change: set('addresses', ['192.0.2.1']),
      field: 'spec.addresses[0]',
      says: /neither a CIDR/,
    },
    {
      why: 'reversed IPv4 range',
      kind: 'IPAddressPool',
      change: set('addresses', ['192.0.2.20-192.0.2.10']),
      field: 'spec.addresses[0]',
      says: /starts after it ends/,
    },
    {
      why: 'reversed IPv4 range across octets',
      kind: 'IPAddressPool',
      change: set('addresses', ['192.0.3.1-192.0.2.255']),
      field: 'spec.addresses[0]',
      says: /starts after it ends/,
    },
    {
      why: 'reversed IPv6 range',
      kind: 'IPAddressPool',
      change: set('addresses', ['2001:db8::ff-2001:db8::1']),
      field: 'spec.addresses[0]',
      says: /starts after it ends/,
    },
    {
      why: 'reversed IPv6 range with ::',
      kind: 'IPAddressPool',
      change: set('addresses', ['2001:db8:1::-2001:db8::ffff']),
      field: 'spec.addresses[0]',
      says: /starts after it ends/,
    },
    {
      why: 'mixed families in one range',
      kind: 'IPAddressPool',
      change: set('addresses', ['192.0.2.1-2001:db8::1']),
      field: 'spec.addresses[0]',
      says: /mixes an IPv4 and an IPv6/,
    },
    {
      why: 'three-part range',
      kind: 'IPAddressPool',
      change: set('addresses', ['192.0.2.1-192.0.2.2-192.0.2.3']),
      field: 'spec.addresses[0]',
      says: /neither a CIDR/,
    },
    {
      why: 'empty address list',
      kind: 'IPAddressPool',
      change: set('addresses', []),
      field: 'spec.addresses',
      says: /at least 1 item/,
    },
    {
      why: 'missing addresses',
      kind: 'IPAddressPool',
      change: del('addresses'),
      field: 'spec.addresses',
      says: /Required value/,
    },
    {
      why: 'autoAssign not a boolean',
      kind: 'IPAddressPool',
      change: set('autoAssign', 'sometimes'),
      field: 'spec.autoAssign',
      says: /boolean/,
    },
    {
      why: 'negative priority',
      kind: 'IPAddressPool',
      change: set('serviceAllocation', { priority: -1 }),
      field: 'spec.serviceAllocation.priority',
      says: /greater than or equal to 0/,
    },
    {
      why: 'selector In without values',
      kind: 'IPAddressPool',
      change: set('serviceAllocation', {
        serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }],
      }),
      field: 'spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values',
      says: /must be non-empty for In/,
    },
    {
      why: 'selector with unknown operator',
      kind: 'IPAddressPool',
      change: set('serviceAllocation', {
        serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Like' }] }],
      }),
      field: 'spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator',
      says: /Unsupported value/,
    },
    {
      why: 'unknown field',
      kind: 'IPAddressPool',
      change: set('adresses', ['192.0.2.0/24']),
      field: 'spec.adresses',
      says: /unknown field/,
    },
    {
      why: 'ASN 0',
      kind: 'BGPPeer',
      change: set('myASN', 0),
      field: 'spec.myASN',
      says: /greater than or equal to 1/,
    },
    {
      why: 'ASN above 4294967295',
      kind: 'BGPPeer',
      change: set('peerASN', 4294967296),
      field: 'spec.peerASN',
      says: /less than or equal to 4294967295/,
    },
    {
      why: 'keepalive equal to hold time',
      kind: 'BGPPeer',
      change: (s) => {
        s.holdTime = '9s';
        s.keepaliveTime = '9s';
      },
      field: 'spec.keepaliveTime',
      says: /keepaliveTime must be less than holdTime/,
    },
    {
      why: 'keepalive above default hold time',
      kind: 'BGPPeer',
      change: (s) => {
        delete s.holdTime;
        s.keepaliveTime = '120s';
      },
      field: 'spec.keepaliveTime',
      says: /keepaliveTime must be less than holdTime/,
    },
    {
      why: 'hold time 2s',
      kind: 'BGPPeer',
      change: (s) => {
        s.holdTime = '2s';
        s.keepaliveTime = '1s';
      },
      field: 'spec.holdTime',
      says: /0 or between 3s and 65535s/,
    },
    {
      why: 'hold time above 65535s',
      kind: 'BGPPeer',
      change: set('holdTime', '20h'),
      field: 'spec.holdTime',
      says: /0 or between 3s and 65535s/,
    },
    {
      why: 'hold time not a duration',
      kind: 'BGPPeer',
      change: set('holdTime', 'ninety'),
      field: 'spec.holdTime',
      says: /should match/,
    },
    {
      why: 'peer address not an IP',
      kind: 'BGPPeer',
      change: set('peerAddress', 'router.example'),
      field: 'spec.peerAddress',
      says: /not an IPv4 or IPv6 address/,
    },
    {
      why: 'missing peer address',
      kind: 'BGPPeer',
      change: del('peerAddress'),
      field: 'spec.peerAddress',
      says: /Required value/,
    },
    {
      why: 'router ID that is IPv6',
      kind: 'BGPPeer',
      change: set('routerID', '2001:db8::1'),
      field: 'spec.routerID',
      says: /must be an IPv4 address/,
    },
    {
      why: 'router ID 0.0.0.0 (RFC 6286: the BGP identifier is non-zero)',
      kind: 'BGPPeer',
      change: set('routerID', '0.0.0.0'),
      field: 'spec.routerID',
      says: /router ID 0\.0\.0\.0 is not a BGP identifier/,
    },
    {
      why: 'ttlSecurity 0',
      kind: 'BGPPeer',
      change: set('ttlSecurity', 0),
      field: 'spec.ttlSecurity',
      says: /greater than or equal to 1/,
    },
    {
      why: 'ttlSecurity with ebgpMultiHop',
      kind: 'BGPPeer',
      change: (s) => {
        s.ttlSecurity = 1;
        s.ebgpMultiHop = true;
      },
      field: 'spec.ttlSecurity',
      says: /ttlSecurity or ebgpMultiHop, not both/,
    },
    {
      why: 'port 0',
      kind: 'BGPPeer',
      change: set('peerPort', 0),
      field: 'spec.peerPort',
      says: /greater than or equal to 1/,
    },
    {
      why: 'both peerASN and dynamicASN',
      kind: 'BGPPeer',
      change: set('dynamicASN', 'internal'),
      field: 'spec',
      says: /exactly one of peerASN and dynamicASN/,
    },
    {
      why: 'password and passwordSecret',
      kind: 'BGPPeer',
      change: set('password', 'secret'),
      field: 'spec.passwordSecret',
      says: /password or passwordSecret, not both/,
    },
    {
      why: 'ebgpMultiHop on iBGP',
      kind: 'BGPPeer',
      change: (s) => {
        s.peerASN = s.myASN;
        s.ebgpMultiHop = true;
      },
      field: 'spec.ebgpMultiHop',
      says: /only to eBGP/,
    },
    {
      why: 'source and peer address of different families',
      kind: 'BGPPeer',
      change: set('sourceAddress', '2001:db8::1'),
      field: 'spec.sourceAddress',
      says: /same family/,
    },
    {
      why: 'aggregation length above 32',
      kind: 'BGPAdvertisement',
      change: set('aggregationLength', 33),
      field: 'spec.aggregationLength',
      says: /less than or equal to 32/,
    },
    {
      why: 'community half above 65535',
      kind: 'BGPAdvertisement',
      change: set('communities', ['65536:1']),
      field: 'spec.communities[0]',
      says: /is not a community/,
    },
    {
      why: 'malformed large community',
      kind: 'BGPAdvertisement',
      change: set('communities', ['large:1:2']),
      field: 'spec.communities[0]',
      says: /is not a community/,
    },
    {
      why: 'local-pref above 2^32-1',
      kind: 'BGPAdvertisement',
      change: set('localPref', 4294967296),
      field: 'spec.localPref',
      says: /less than or equal to 4294967295/,
    },
    {
      why: 'pool name that is not a resource name',
      kind: 'L2Advertisement',
      change: set('ipAddressPools', ['Not_A_Name']),
      field: 'spec.ipAddressPools[0]',
      says: /should match/,
    },
    {
      why: 'interface name longer than 15',
      kind: 'L2Advertisement',
      change: set('interfaces', ['a-very-long-interface0']),
      field: 'spec.interfaces[0]',
      says: /should match/,
    },
    {
      why: 'BFD multiplier 1',
      kind: 'BFDProfile',
      change: set('detectMultiplier', 1),
      field: 'spec.detectMultiplier',
      says: /greater than or equal to 2/,
    },
    {
      why: 'BFD interval 5 ms',
      kind: 'BFDProfile',
      change: set('receiveInterval', 5),
      field: 'spec.receiveInterval',
      says: /greater than or equal to 10/,
    },
    {
      why: 'community value out of range',
      kind: 'Community',
      change: set('communities', [{ name: 'x', value: '1:70000' }]),
      field: 'spec.communities[0].value',
      says: /is not a community/,
    },
    {
      why: 'a well-known community name given another value',
      kind: 'Community',
      change: set('communities', [{ name: 'no_export', value: '64512:1' }]),
      field: 'spec.communities[0].value',
      says: /"no_export" names the well-known community 65535:65281/,
    },
    {
      why: 'large community part above 2^32-1',
      kind: 'Community',
      change: set('communities', [{ name: 'x', value: 'large:1:2:4294967296' }]),
      field: 'spec.communities[0].value',
      says: /is not a community/,
    },
  ];

  test(`the table has at least 25 cases (${cases.length})`, () => assert.ok(cases.length >= 25));
  for (const c of cases) {
    test(`${c.kind}: ${c.why}`, async () => {
      const res = await apply(variant(c.kind, c.change));
      assert.notEqual(res.code, 0, `accepted, but should be refused (${c.why})`);
      assert.ok(res.stderr.includes(c.field), `message does not name ${c.field}:\n${res.stderr}`);
      assert.match(res.stderr, c.says);
    });
  }
});

test('kubectl get ipaddresspools shows addresses, auto-assign and the assigned/available counts', async () => {
  const res = await api.kubectl(['get', 'ipaddresspools', '-n', NS, 'production']);
  assert.equal(res.code, 0, res.stderr);
  const [header, row] = res.stdout.trim().split('\n');
  assert.match(
    header!,
    /NAME\s+ADDRESSES\s+AUTO ASSIGN\s+ASSIGNED IPV4\s+ASSIGNED IPV6\s+AVAILABLE IPV4\s+AVAILABLE IPV6\s+AGE/,
  );
  assert.match(
    row!,
    /production\s+\["192\.0\.2\.0\/26","198\.51\.100\.10-198\.51\.100\.20","2001:db8:100::\/120"\]\s+true/,
  );
  // The counts come from status, which the controller writes; set it here the way the controller will.
  const patched = await api.kubectl([
    'patch',
    'ipaddresspool',
    'production',
    '-n',
    NS,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { assignedIPv4: 3, assignedIPv6: 1, availableIPv4: 72, availableIPv6: 255 } }),
  ]);
  assert.equal(patched.code, 0, patched.stderr);
  const after = await api.kubectl(['get', 'ipaddresspools', '-n', NS, 'production', '--no-headers']);
  assert.match(after.stdout, /true\s+3\s+1\s+72\s+255\s+/);
});
