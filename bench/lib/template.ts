/** Fills `{{NAME}}` placeholders in peer config files (bench/peers/). Pure. */
export function fillTemplate(text: string, vars: Readonly<Record<string, string | number>>): string {
  const missing = new Set<string>();
  const out = text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) {
      missing.add(name);
      return "";
    }
    return String(v);
  });
  if (missing.size > 0) throw new Error(`template needs ${[...missing].join(", ")}`);
  return out;
}
