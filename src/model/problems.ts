/** A reported defect in one object: it names the object and the field so a user can fix it. */
export interface Problem {
  kind: string;
  namespace?: string;
  name?: string;
  /** JSON path of the field at fault, e.g. `spec.ports[1].port` */
  field?: string;
  message: string;
  /** where the object came from, for manifests: `file.yaml#2` (document index) */
  origin?: string;
}

export function formatProblem(p: Problem): string {
  const who = [p.kind, p.namespace ? `${p.namespace}/${p.name ?? "?"}` : (p.name ?? "?")].join(" ");
  const where = p.origin ? ` (${p.origin})` : "";
  const field = p.field ? ` ${p.field}:` : "";
  return `${who}${where}:${field} ${p.message}`;
}
