// Plain-text tables and key/value blocks for the human-readable output.

export type Align = "left" | "right";

export interface TableSpec {
  head: string[];
  rows: string[][];
  /** Per column; default: first column left, the others right. */
  align?: Align[];
}

export function renderTable({ head, rows, align }: TableSpec): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const alignOf = (i: number): Align => align?.[i] ?? (i === 0 ? "left" : "right");
  const fmt = (cells: string[]) =>
    cells
      .map((cell, i) => (alignOf(i) === "left" ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [fmt(head), rule, ...rows.map((r) => fmt(head.map((_, i) => r[i] ?? "")))].join("\n");
}

/** Aligned `key  value` lines. */
export function renderKeyValues(pairs: [string, string][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

/** Sections separated by a blank line; a title goes above its body. */
export function renderSections(sections: ({ title?: string; body: string } | undefined)[]): string {
  return sections
    .filter((s): s is { title?: string; body: string } => s !== undefined && s.body !== "")
    .map((s) => (s.title ? `${s.title}\n${s.body}` : s.body))
    .join("\n\n");
}
