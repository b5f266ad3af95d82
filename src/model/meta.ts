/** The metadata every Kubernetes object carries (k8s.ts and gateway.ts build on it). */

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion?: string; kind?: string; name?: string; uid?: string; controller?: boolean }[];
}

export interface TypedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}
