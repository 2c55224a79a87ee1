import type { CommandEntry } from './command.ts';

/** Every subcommand `beacon` has; `beacon --help` lists them in this order. */
export const commands: readonly CommandEntry[] = [
  {
    name: 'controller',
    summary: 'assign addresses from IPAddressPools to LoadBalancer Services (leader-elected)',
    load: async () => (await import('./controller-command.ts')).controllerCommand,
  },
  {
    name: 'speaker',
    summary: "announce this node's share of the addresses over L2 (ARP/NDP) and BGP",
    load: async () => (await import('./speaker-command.ts')).speakerCommand,
  },
  {
    name: 'lab',
    summary: 'run Beacon on a real Kubernetes cluster built on this machine (needs root)',
    load: async () => (await import('./lab-command.ts')).labCommand,
  },
  {
    name: 'bgp',
    summary: 'bring up one BGP session to a router, print what happens, announce prefixes until interrupted',
    load: async () => (await import('./bgp-command.ts')).bgpCommand,
  },
  {
    name: 'l2',
    summary: 'announce addresses in L2 mode (gratuitous ARP/NA, then answer ARP and NDP) until interrupted',
    load: async () => (await import('./l2-command.ts')).l2Command,
  },
  {
    name: 'crds',
    summary: "print Beacon's CustomResourceDefinitions as YAML (pipe to `kubectl apply -f -`)",
    load: async () => (await import('./crds-command.ts')).crdsCommand,
  },
  {
    name: 'migrate',
    summary: 'convert MetalLB configuration (metallb.io objects) to Beacon objects',
    load: async () => (await import('./migrate-command.ts')).migrateCommand,
  },
];
