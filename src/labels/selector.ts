/**
 * Kubernetes label selectors (metav1.LabelSelector) as pure functions, shared by the allocator (pool
 * serviceAllocation) and the speaker (advertisement nodeSelectors).
 *
 * Validation (non-empty values for In/NotIn, key syntax) is the CRD schema's job; these functions give
 * every well-formed selector its Kubernetes meaning and every malformed one the plain reading of its
 * fields, so they never throw.
 */
import type { LabelSelector } from '../api/crds/common.ts';

export type Labels = Readonly<Record<string, string>>;

/**
 * Whether `labels` satisfy `selector`: every matchLabels entry and every matchExpressions requirement
 * must hold. An empty selector (`{}`) matches everything, as in Kubernetes.
 */
export function matchesSelector(selector: LabelSelector, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(labels, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!present || !values.includes(labels[req.key]!)) return false;
        break;
      case 'NotIn':
        // Kubernetes: a missing key satisfies NotIn.
        if (present && values.includes(labels[req.key]!)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        // An operator the schema does not know matches nothing rather than everything.
        return false;
    }
  }
  return true;
}

/**
 * The reading Beacon's lists of selectors share (pool namespaceSelectors and serviceSelectors,
 * advertisement nodeSelectors): an empty list places no restriction; otherwise at least one selector
 * must match.
 */
export function selectorsAllow(selectors: readonly LabelSelector[] | undefined, labels: Labels): boolean {
  if (!selectors || selectors.length === 0) return true;
  return selectors.some((s) => matchesSelector(s, labels));
}

/** `app=web,tier=front` style text for messages; `{}` reads as "everything". */
export function formatSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const req of selector.matchExpressions ?? []) {
    const values = (req.values ?? []).join(',');
    if (req.operator === 'In') parts.push(`${req.key} in (${values})`);
    else if (req.operator === 'NotIn') parts.push(`${req.key} notin (${values})`);
    else if (req.operator === 'Exists') parts.push(req.key);
    else parts.push(`!${req.key}`);
  }
  return parts.length ? parts.join(',') : 'everything';
}
