/**
 * Lets this machine run another architecture's binaries: the foreign Debian base's maintainer scripts run
 * under qemu while mmdebstrap installs it, and the tests start the arm64 image's `beacon --help`. The kernel
 * has binfmt_misc but nothing mounts it here (no systemd); Debian's qemu-user-static ships the registration
 * line, whose F flag makes the kernel open the emulator once, so it also works inside chroots and containers.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec, type Log } from './exec.ts';
import { type Arch, hostArch, qemuName } from './platform.ts';

const BINFMT = '/proc/sys/fs/binfmt_misc';

export async function ensureEmulation(arch: Arch, log: Log, logFile: string): Promise<void> {
  if (arch === hostArch()) return;
  if (!existsSync(join(BINFMT, 'register'))) {
    log(`mounting binfmt_misc on ${BINFMT} to run ${arch} binaries under qemu`);
    await exec('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT], { log, logFile });
  }
  const name = `qemu-${qemuName(arch)}`;
  const entry = join(BINFMT, name);
  if (!existsSync(entry)) {
    const conf = `/usr/lib/binfmt.d/${name}.conf`;
    if (!existsSync(conf)) throw new Error(`${conf} is missing: apt-get install qemu-user-static`);
    log(`registering ${name} with binfmt_misc (from ${conf})`);
    writeFileSync(join(BINFMT, 'register'), readFileSync(conf, 'utf8').trim());
  }
  const state = readFileSync(entry, 'utf8');
  if (!/^enabled$/m.test(state)) writeFileSync(entry, '1');
  const flags = /^flags: (\S*)$/m.exec(state)?.[1] ?? '';
  if (!flags.includes('F'))
    throw new Error(
      `${entry} is registered without the F flag (flags: ${flags}), so containers cannot find the emulator; ` +
        `write -1 to it and run again to register Debian's qemu-user-static line`,
    );
}
