/** metav1.Condition values as the controller writes them on its resources' status. */
import type { Condition } from '../api/types.ts';

/** A condition whose lastTransitionTime moves only when its status does. */
export function condition(
  type: string,
  status: boolean,
  reason: string,
  message: string,
  previous: readonly Condition[] | undefined,
  generation: number | undefined,
): Condition {
  const s = status ? 'True' : 'False';
  const old = previous?.find((c) => c.type === type);
  const lastTransitionTime =
    old && old.status === s ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    type,
    status: s,
    reason,
    message,
    lastTransitionTime,
    ...(generation ? { observedGeneration: generation } : {}),
  };
}
