// What a worker is: version, device, torch, threads, model backends (with their architectures,
// defaults and availability), data sources, capabilities.
import { backendModule } from "../backends/registry.js";
import type { WorkerClient } from "../client/worker-client.js";
import type { BackendInfo } from "../generated/robustseg/v1/worker_service.js";
import type { OperationContext } from "./reporter.js";

export interface BackendDescription {
  name: string;
  description: string;
  /** Its package imports on this worker. */
  available: boolean;
  unavailableReason: string;
  architectures: string[];
  /** smp: the encoders that build offline. */
  encoders: string[];
  /** The spec with every default filled, as the worker reports it (snake_case contract fields). */
  defaults: Record<string, unknown>;
  packageVersion: string;
  /** This control plane has a module for it (it can be chosen with --backend / model.backend). */
  known: boolean;
}

export interface WorkerInfo {
  version: string;
  device: string;
  deviceType: string;
  torchVersion: string;
  torchThreads: number;
  backends: BackendDescription[];
  dataSources: string[];
  capabilities: string[];
  workspace: string;
  maxMessageBytes: number;
}

function parseDefaults(json: string): Record<string, unknown> {
  try {
    const v = JSON.parse(json || "{}") as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** One backend as the worker describes it; a worker without details gives names only. */
export function describeBackend(name: string, info: BackendInfo | undefined): BackendDescription {
  const module = backendModule(name);
  return {
    name,
    description: info?.description || module?.description || "",
    available: info ? info.available : true,
    unavailableReason: info?.unavailableReason ?? "",
    architectures: [...(info?.architectures ?? [])],
    encoders: [...(info?.encoders ?? [])],
    defaults: parseDefaults(info?.defaultsJson ?? ""),
    packageVersion: info?.packageVersion ?? "",
    known: module !== undefined,
  };
}

export async function getWorkerInfo(client: WorkerClient, context: OperationContext = {}): Promise<WorkerInfo> {
  const info = await client.getInfo({ signal: context.signal, timeoutMs: 30_000 });
  const byName = new Map(info.backendInfos.map((b) => [b.name, b]));
  const names = [...new Set([...info.backends, ...info.backendInfos.map((b) => b.name)])];
  return {
    version: info.version,
    device: info.device,
    deviceType: info.deviceType,
    torchVersion: info.torchVersion,
    torchThreads: info.torchThreads,
    backends: names.map((n) => describeBackend(n, byName.get(n))),
    dataSources: [...info.dataSources],
    capabilities: [...info.capabilities],
    workspace: info.workspace,
    maxMessageBytes: info.maxMessageBytes,
  };
}
