// How numbers look in tables. Undefined metrics (null) print as "n/a".

export const NA = "n/a";

/** 0.81234 → "0.8123". Accuracies, IoU, Dice and pixel or image shares print as fractions with
 * four digits everywhere (command output, tables.md, the report), as in the paper's tables, so a
 * figure reads the same wherever it appears. */
export function fraction(value: number | null | undefined): string {
  return fixed(value, 4);
}

/** 0.81234 → "0.812". */
export function fixed(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined || !Number.isFinite(value) ? NA : value.toFixed(digits);
}

/** 123456 → "123,456". */
export function count(value: number): string {
  return value.toLocaleString("en-US");
}

export function bytes(value: number): string {
  if (value >= 1024 * 1024) return `${(value / (1024 * 1024)).toFixed(0)} MiB`;
  if (value >= 1024) return `${(value / 1024).toFixed(0)} KiB`;
  return `${value} B`;
}

export function seconds(value: number): string {
  return value < 60 ? `${value.toFixed(1)} s` : `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}
