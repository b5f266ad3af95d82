/**
 * RegularExpression values of HTTPRoute/GRPCRoute matches. Placeholder: refuses every pattern until the
 * checker lands.
 */
export function checkRegex(pattern: string): { ok: true; source: string } | { ok: false; message: string } {
  return { ok: false, message: `regular expression ${JSON.stringify(pattern)} refused: not supported yet` };
}
