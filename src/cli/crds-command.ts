import { crdManifests } from '../api/manifests.ts';
import type { Command } from './command.ts';

export const crdsCommand: Command = {
  usage:
    'Usage: beacon crds\n\nPrints every beacon.dev/v1alpha1 CustomResourceDefinition as one multi-document YAML stream.',
  async run() {
    process.stdout.write(
      crdManifests()
        .map((m) => m.yaml)
        .join('---\n'),
    );
    return 0;
  },
};
