// Attacking every image of a dataset against a model into a new dataset artifact (same labels);
// method one is the layered-PGD attack. The worker reuses an artifact made by the same request.
import type { WorkerClient } from "../client/worker-client.js";
import type { DatasetBuildResult } from "../generated/robustseg/v1/attack.js";
import { type AttackParams, attackSpec } from "../attacks/registry.js";
import { type DatasetSummary, summariseDataset } from "./create-dataset.js";
import { type DistributedParams, distributedMessage } from "./distributed.js";
import { type OperationContext, silentReporter } from "./reporter.js";

export interface AttackDatasetParams {
  modelId: string;
  datasetId: string;
  attack: AttackParams;
  batchSize?: number | undefined;
  /** Share the images among torch.distributed processes (the same artifact as one process). */
  distributed?: DistributedParams | undefined;
}

export interface DatasetBuildOutcome {
  dataset: DatasetSummary;
  /** The same request already existed in the workspace. */
  reused: boolean;
  /** Mean and largest L∞ distance to the clean images. */
  meanLinf: number;
  maxLinf: number;
}

export interface AttackDatasetOutcome extends DatasetBuildOutcome {
  params: AttackDatasetParams;
}

export function buildOutcome(result: DatasetBuildResult, rpc: string): DatasetBuildOutcome {
  if (!result.dataset) throw new Error(`${rpc}: result without a dataset`);
  return { dataset: summariseDataset(result.dataset), reused: result.reused, meanLinf: result.meanLinf, maxLinf: result.maxLinf };
}

export async function attackDataset(client: WorkerClient, params: AttackDatasetParams, context: OperationContext = {}): Promise<AttackDatasetOutcome> {
  const reporter = context.reporter ?? silentReporter;
  const model = await client.getModel(params.modelId, { signal: context.signal, timeoutMs: 30_000 });
  try {
    const result = await client.attackDatasetResult(
      { modelId: params.modelId, datasetId: params.datasetId, attack: attackSpec(params.attack, model.classNames), batchSize: params.batchSize ?? 0, distributed: distributedMessage(params.distributed) },
      {
        signal: context.signal,
        onProgress: (p) => reporter.progress({ stage: p.stage || "attack", done: p.done, total: p.total, message: p.message }),
      },
    );
    return { params, ...buildOutcome(result, "AttackDataset") };
  } finally {
    reporter.endStage();
  }
}
