/**
 * Creating thousands of objects on a busy machine. The creating clients, the API server (writing its audit
 * log before each answer) and Beacon share two cores; under other load a create waited past the REST
 * client's 30 s default, got the API server's own 504 (its storage too slow) or a reset connection, and
 * ended the run. After any of these the object may or may not exist, so the create is sent again, and
 * AlreadyExists on a repeat means an earlier one landed. The figures count from the first create, so a slow create lengthens them instead.
 */
import { ApiError, type KubeRest } from '../src/k8s/rest.ts';

/** Each write's time limit. */
export const BULK_WRITE = { timeoutMs: 180_000 };
const ATTEMPTS = 5;

/** Whether `err` leaves it unknown if the write happened: no answer in time, or the server's timeout. */
function unanswered(err: unknown): boolean {
  if (err instanceof ApiError)
    return err.status === 504 || err.reason === 'Timeout' || err.reason === 'ServerTimeout';
  return err instanceof Error && err.message.includes('no answer within');
}

export async function createSurely(rest: KubeRest, path: string, body: unknown): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rest.create(path, body, BULK_WRITE);
      return;
    } catch (err) {
      if (attempt > 1 && err instanceof ApiError && err.reason === 'AlreadyExists') return;
      if (!unanswered(err) || attempt === ATTEMPTS) throw err;
    }
  }
}
