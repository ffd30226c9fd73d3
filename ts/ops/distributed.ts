// Work on several torch.distributed processes (docs/scaling.md): the worker launches torchrun.
// Training runs DistributedDataParallel replicas (DistributedTraining); the dataset-building
// stages (attack, method one, method two's scoring and building, evaluation) share their images
// among the processes and gather the result one process would give (DistributedRun). Both
// messages carry the same fields, built here.
import type { DistributedRun } from "../generated/robustseg/v1/common.js";

export interface DistributedParams {
  /** Processes on this node (one per GPU on CUDA). */
  nprocPerNode: number;
  /** Nodes in all; beyond 1 every node runs the same job with its own nodeRank. */
  nnodes?: number | undefined;
  nodeRank?: number | undefined;
  /** host:port of the c10d rendezvous (needed with nnodes > 1). */
  rdzvEndpoint?: string | undefined;
  rdzvId?: string | undefined;
  /** gloo or nccl; default nccl on CUDA, gloo on CPU. */
  backend?: "gloo" | "nccl" | undefined;
}

/** The contract's DistributedRun (or DistributedTraining: the same fields); undefined for one process. */
export function distributedMessage(d: DistributedParams | undefined): DistributedRun | undefined {
  if (!d || (d.nprocPerNode <= 1 && (d.nnodes ?? 1) <= 1)) return undefined;
  return {
    nprocPerNode: d.nprocPerNode,
    nnodes: d.nnodes ?? 1,
    nodeRank: d.nodeRank ?? 0,
    rdzvEndpoint: d.rdzvEndpoint ?? "",
    rdzvId: d.rdzvId ?? "",
    backend: d.backend ?? "",
  };
}
