/**
 * Builds the images asked for, for each architecture asked for, under one lock, and records what was built in
 * .cache/images/images.json (reference, architecture, archive) for scripts that import the archives. The test
 * Pods' images (pause, echo) are test fixtures: their recipes live with the tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BuiltImage, beaconImage } from './beacon.ts';
import type { BuildContext } from './debian.ts';
import { type Log, since } from './exec.ts';
import { withLock } from './lock.ts';
import { type Arch, IMAGE_CACHE } from './platform.ts';

export type ImageKind = 'beacon' | 'pause' | 'echo';
export type ImageSet = Partial<Record<ImageKind, Partial<Record<Arch, BuiltImage>>>>;

export interface BuildRequest {
  kinds: readonly ImageKind[];
  arches: readonly Arch[];
  refreshBase?: boolean;
}

export async function buildImages(req: BuildRequest, log: Log): Promise<ImageSet> {
  mkdirSync(IMAGE_CACHE, { recursive: true });
  const ctx: BuildContext = { log, logDir: join(IMAGE_CACHE, 'logs'), refreshBase: req.refreshBase ?? false };
  return withLock(join(IMAGE_CACHE, '.lock'), log, async () => {
    const started = Date.now();
    const pods = req.kinds.some((k) => k !== 'beacon')
      ? await import('../../test/harness/pod-images.ts')
      : undefined;
    const set: ImageSet = {};
    for (const kind of req.kinds) {
      for (const arch of req.arches) {
        let built: BuiltImage;
        if (kind === 'beacon') built = await beaconImage(arch, ctx);
        else if (kind === 'pause') built = await pods!.pauseImage(arch, ctx);
        else built = await pods!.echoImage(arch, ctx);
        set[kind] = { ...set[kind], [arch]: built };
      }
    }
    writeFileSync(join(IMAGE_CACHE, 'images.json'), `${JSON.stringify(set, null, 2)}\n`);
    log(`images ready in ${since(started)}`);
    return set;
  });
}
