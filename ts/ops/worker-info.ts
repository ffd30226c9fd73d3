// What a worker is: version, device, torch, threads, backends, sources, capabilities.
import type { WorkerClient } from "../client/worker-client.js";
import type { OperationContext } from "./reporter.js";

export interface WorkerInfo {
  version: string;
  device: string;
  deviceType: string;
  torchVersion: string;
  torchThreads: number;
  backends: string[];
  dataSources: string[];
  capabilities: string[];
  workspace: string;
  maxMessageBytes: number;
}

export async function getWorkerInfo(client: WorkerClient, context: OperationContext = {}): Promise<WorkerInfo> {
  const info = await client.getInfo({ signal: context.signal, timeoutMs: 30_000 });
  return {
    version: info.version,
    device: info.device,
    deviceType: info.deviceType,
    torchVersion: info.torchVersion,
    torchThreads: info.torchThreads,
    backends: [...info.backends],
    dataSources: [...info.dataSources],
    capabilities: [...info.capabilities],
    workspace: info.workspace,
    maxMessageBytes: info.maxMessageBytes,
  };
}
