import { bgpCommand } from './bgp-command.ts';
import type { Command } from './command.ts';
import { controllerCommand } from './controller-command.ts';
import { crdsCommand } from './crds-command.ts';
import { l2Command } from './l2-command.ts';
import { labCommand } from './lab-command.ts';
import { migrateCommand } from './migrate-command.ts';
import { speakerCommand } from './speaker-command.ts';

/** Every subcommand `beacon` has; `beacon --help` lists them in this order. */
export const commands: readonly Command[] = [
  controllerCommand,
  speakerCommand,
  labCommand,
  bgpCommand,
  l2Command,
  crdsCommand,
  migrateCommand,
];
