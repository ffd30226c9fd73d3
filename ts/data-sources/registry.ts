// Every data source the control plane knows, one module each (docs/ARCHITECTURE.md section 8):
// the spec's `data:` union by `source`, `dataset create`'s options and help, and the conversion
// to the contract's DataSource dispatch through here.
import type { z } from "zod";
import type { DataSource } from "../generated/robustseg/v1/data.js";
import { unionBy } from "../extensions/spec-values.js";
import type { SourceFolder } from "./common.js";
import { folder, type FolderParams } from "./folder.js";
import { kandinsky, type KandinskyParams } from "./kandinsky.js";
import { pannuke, type PanNukeParams } from "./pannuke.js";
import { syntheticHistology, type SyntheticHistologyParams } from "./synthetic-histology.js";

export type { SourceFolder } from "./common.js";
export { FITS, type FitName } from "./common.js";
export { KANDINSKY_LABELINGS } from "./kandinsky.js";
export type { FolderParams, KandinskyParams, PanNukeParams, SyntheticHistologyParams };

export const DATA_SOURCES = [syntheticHistology, kandinsky, pannuke, folder] as const;
export type DataSourceModule = (typeof DATA_SOURCES)[number];
export type DatasetSourceName = DataSourceModule["name"];
export const DATA_SOURCE_NAMES = DATA_SOURCES.map((s) => s.name) as [DatasetSourceName, ...DatasetSourceName[]];

/** A dataset request's parameters, one member per source. */
export type DatasetSource = SyntheticHistologyParams | KandinskyParams | PanNukeParams | FolderParams;

/** Loosely typed view for dispatch: the registry guarantees that params match their module. */
interface AnySourceModule {
  name: string;
  protoCase: string;
  toProto(p: DatasetSource): DataSource;
  describe(p: DatasetSource): string;
  folders(p: DatasetSource): SourceFolder[];
  fromSpec(block: unknown): DatasetSource;
  resolveSpecPaths?(block: Record<string, unknown>, baseDir: string): Record<string, unknown>;
  specField(protoField: string): string;
}

export function dataSourceModule(name: string): DataSourceModule | undefined {
  return DATA_SOURCES.find((s) => s.name === name);
}

const anyModule = (name: string): AnySourceModule => {
  const m = dataSourceModule(name);
  if (!m) throw new Error(`unknown data source ${JSON.stringify(name)}; known: ${DATA_SOURCE_NAMES.join(", ")}`);
  return m as unknown as AnySourceModule;
};

/** The spec's `data:` block: a union of the sources' schemas by `source`. */
export function dataSpecSchema() {
  const schemas = DATA_SOURCES.map((s) => s.specSchema()) as unknown as [
    ReturnType<DataSourceModule["specSchema"]>,
    ...ReturnType<DataSourceModule["specSchema"]>[],
  ];
  return unionBy("source", DATA_SOURCE_NAMES, schemas);
}
export type DataSpec = z.output<ReturnType<typeof dataSpecSchema>>;

export function sourceFromSpec(block: DataSpec): DatasetSource {
  return anyModule(block.source).fromSpec(block);
}

/**
 * A spec object's data paths made absolute against `baseDir` (the spec file's folder, or the
 * current directory for command-line overrides). A block without `source` (an override such as
 * --data-path) goes through every source's rule: each touches only its own fields.
 */
export function resolveDataSpecPaths(block: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  const named = typeof block.source === "string" ? dataSourceModule(block.source) : undefined;
  const modules = (named ? [named] : DATA_SOURCES) as unknown as AnySourceModule[];
  return modules.reduce((b, m) => (m.resolveSpecPaths ? m.resolveSpecPaths(b, baseDir) : b), block);
}

export function dataSourceToProto(source: DatasetSource): DataSource {
  return anyModule(source.source).toProto(source);
}

/** One line: what the source is. */
export function describeSource(source: DatasetSource): string {
  return anyModule(source.source).describe(source);
}

/** The folders a source reads (a spawned worker's --data-root candidates), by spec field. */
export function sourceFolders(source: DatasetSource): SourceFolder[] {
  return anyModule(source.source).folders(source);
}

/** A DataSource contract path ("folder.validation_fraction") in the spec's words ("validationFraction"). */
export function sourceSpecField(sourceName: string, protoPath: string): string {
  const m = dataSourceModule(sourceName) as unknown as AnySourceModule | undefined;
  if (!m) return protoPath;
  const rest = protoPath.startsWith(`${toSnake(m.protoCase)}.`) ? protoPath.slice(toSnake(m.protoCase).length + 1) : protoPath === toSnake(m.protoCase) ? "" : protoPath;
  return m.specField(rest);
}

const toSnake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
