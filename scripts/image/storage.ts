/**
 * What the local image store (containers-storage, shared by buildah and podman) holds. Images made here carry
 * the hash of the recipe they were made from in a label, so a changed recipe makes a new image and an
 * unchanged one is reused without asking anything else.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const RECIPE_LABEL = 'dev.beacon.image.recipe';

export interface StoredImage {
  id: string;
  recipe: string | undefined;
  architecture: string;
}

export async function storedImage(name: string): Promise<StoredImage | undefined> {
  try {
    const { stdout } = await run('buildah', ['inspect', '--type', 'image', name], { maxBuffer: 64 << 20 });
    const info = JSON.parse(stdout) as {
      FromImageID: string;
      OCIv1: { architecture: string; config?: { Labels?: Record<string, string> } };
    };
    return {
      id: info.FromImageID,
      recipe: info.OCIv1.config?.Labels?.[RECIPE_LABEL],
      architecture: info.OCIv1.architecture,
    };
  } catch {
    return undefined;
  }
}

/** The image `name` if it exists and was made from `recipe`. */
export async function current(name: string, recipe: string): Promise<StoredImage | undefined> {
  const img = await storedImage(name);
  return img?.recipe === recipe ? img : undefined;
}
