/** Number formatting shared by the table and the charts. Pure. */

/** 41230.4 → "41,230"; 12.345 → "12.3"; 0.01234 → "0.0123"; null → "–" */
export function formatNumber(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return "0";
  return v.toPrecision(3);
}

export function formatRatio(v: number | null | undefined): string {
  return v == null || !Number.isFinite(v) ? "–" : `${v.toFixed(2)}×`;
}

export function formatPercent(v: number | null | undefined): string {
  return v == null || !Number.isFinite(v) ? "–" : `${Math.round(v * 100)}%`;
}
