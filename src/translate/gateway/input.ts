/**
 * Lists read from cluster objects, as they may arrive: the API server checks the CRD schema, but manifests and
 * older CRDs may not, and a wrong shape must cost that object only. A non-array is an empty list, and entries
 * that are not objects are dropped.
 */
export function objects<T extends object>(value: readonly T[] | undefined | null): T[] {
  if (!Array.isArray(value)) return [];
  return value.filter((x): x is T => typeof x === "object" && x !== null);
}
