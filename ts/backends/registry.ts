// Every model backend the control plane knows, one module each (docs/ARCHITECTURE.md section 8):
// the spec's `model:` union by `backend` (no backend = unet, the original spec form), `train`'s
// --backend and options, and the conversion to the contract's ModelSpec dispatch through here.
import type { z } from "zod";
import type { ModelSpec } from "../generated/robustseg/v1/model.js";
import type { CliOptionSpecs } from "../extensions/extension.js";
import { unionBy, withDefaultKey } from "../extensions/spec-values.js";
import type { ModelFile } from "./files.js";
import { monai, type MonaiParams } from "./monai.js";
import { smp, type SmpParams } from "./smp.js";
import { unet, type UNetParams } from "./unet.js";

export type { ModelFile } from "./files.js";
export type { MonaiParams, SmpParams, UNetParams };

export const MODEL_BACKENDS = [unet, smp, monai] as const;
export type ModelBackendModule = (typeof MODEL_BACKENDS)[number];
export type BackendName = ModelBackendModule["name"];
export const BACKEND_NAMES = MODEL_BACKENDS.map((b) => b.name) as [BackendName, ...BackendName[]];
export const DEFAULT_BACKEND: BackendName = "unet";

/** A model's parameters, one member per backend. */
export type ModelParams = UNetParams | SmpParams | MonaiParams;

/** Loosely typed view for dispatch: the registry guarantees that params match their module. */
interface AnyBackendModule {
  name: string;
  protoCase: string;
  description: string;
  cliOptions: CliOptionSpecs;
  toProto(p: ModelParams): ModelSpec;
  fromProto(spec: ModelSpec): ModelParams | undefined;
  describe(p: ModelParams): string;
  specField(protoField: string): string;
  files?(p: ModelParams): ModelFile[];
  resolveSpecPaths?(block: Record<string, unknown>, baseDir: string): Record<string, unknown>;
}

export function backendModule(name: string): ModelBackendModule | undefined {
  return MODEL_BACKENDS.find((b) => b.name === name);
}

const anyBackend = (name: string): AnyBackendModule => {
  const b = backendModule(name);
  if (!b) throw new Error(`unknown backend ${JSON.stringify(name)}; known: ${BACKEND_NAMES.join(", ")}`);
  return b as unknown as AnyBackendModule;
};

/** The spec's `model:` block: a union of the backends' schemas by `backend` (default unet). */
export function modelSpecSchema() {
  const schemas = MODEL_BACKENDS.map((b) => b.specSchema()) as unknown as [
    ReturnType<ModelBackendModule["specSchema"]>,
    ...ReturnType<ModelBackendModule["specSchema"]>[],
  ];
  return withDefaultKey("backend", DEFAULT_BACKEND, unionBy("backend", BACKEND_NAMES, schemas));
}

/** The contract's ModelSpec. */
export function modelSpec(params: ModelParams): ModelSpec {
  return anyBackend(params.backend).toProto(params);
}

/** A ModelSpec as parameters (null for a backend this control plane does not know). */
export function modelParamsOf(spec: ModelSpec | undefined): ModelParams | null {
  const c = spec?.architecture?.$case;
  const b = MODEL_BACKENDS.find((m) => m.protoCase === c) as unknown as AnyBackendModule | undefined;
  return (spec && b?.fromProto(spec)) ?? null;
}

/** "U-Net depth 3, base width 16, bilinear up-sampling", "smp Unet, encoder resnet18". */
export function describeModel(params: ModelParams): string {
  return anyBackend(params.backend).describe(params);
}

/** Files the model reads (a spawned worker's --data-root candidates: their folders). */
export function modelFiles(params: ModelParams): ModelFile[] {
  return anyBackend(params.backend).files?.(params) ?? [];
}

/** The spec's model block with its paths made absolute against `baseDir`. */
export function resolveModelSpecPaths(block: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  const b = backendModule(typeof block.backend === "string" ? block.backend : DEFAULT_BACKEND) as unknown as AnyBackendModule | undefined;
  return b?.resolveSpecPaths ? b.resolveSpecPaths(block, baseDir) : block;
}

/** A ModelSpec contract path ("smp.encoder_depth") in the spec's words ("encoderDepth"). */
export function modelSpecField(protoPath: string): string {
  const [member = "", ...rest] = protoPath.split(".");
  const b = MODEL_BACKENDS.find((m) => m.protoCase === member.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())) as unknown as AnyBackendModule | undefined;
  if (!b) return protoPath === "architecture" ? "backend" : protoPath;
  return b.specField(rest.join("."));
}

