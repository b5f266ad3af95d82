/**
 * The ingress part of the snapshot: the compiled route table the ingress plane serves.
 * Owned by the ingress plane's issue, which defines the table; until then it carries no routes.
 */
export interface IngressSnapshot {
  routes: readonly unknown[];
}

export const EMPTY_INGRESS: IngressSnapshot = { routes: [] };
