// The torch.distributed options every command that can run on several processes takes (train,
// attack, evaluate, enhance): the same flags, the same checks, the same mapping of the worker's
// field errors back to them (docs/scaling.md).
import type { Command } from "commander";
import { z } from "zod";
import type { DistributedParams } from "../ops/distributed.js";
import { choice, hostPort, nonNegativeInteger, positiveInteger } from "./option-schemas.js";
import { option } from "./parse-options.js";

/** Spread into a command's option schema. */
export const distributedOptionFields = {
  nproc: positiveInteger(),
  nnodes: positiveInteger(),
  nodeRank: nonNegativeInteger(),
  rdzvEndpoint: hostPort().optional(),
  rdzvId: z.string().optional(),
  distBackend: choice(["gloo", "nccl"]).optional(),
};

export type DistributedOptionValues = {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  rdzvEndpoint?: string | undefined;
  rdzvId?: string | undefined;
  distBackend?: string | undefined;
};

/** The worker's field paths (DistributedTraining / DistributedRun) as these flags. */
export const DISTRIBUTED_FIELD_FLAGS: Readonly<Record<string, string>> = {
  "distributed.nproc_per_node": "--nproc",
  "distributed.nnodes": "--nnodes",
  "distributed.node_rank": "--node-rank",
  "distributed.rdzv_endpoint": "--rdzv-endpoint",
  "distributed.rdzv_id": "--rdzv-id",
  "distributed.backend": "--dist-backend",
};

/** `how` says what the processes do, e.g. "each takes its share of every batch". */
export function addDistributedOptions(command: Command, how: string, rdzvIdDefault: string): Command {
  return command
    .addOption(option("--nproc <n>", `processes on this node, launched by torchrun (one per GPU on CUDA; ${how}; docs/scaling.md)`, 1))
    .addOption(option("--nnodes <n>", "nodes of a multi-node job (each runs the same command with its --node-rank; needs --rdzv-endpoint)", 1))
    .addOption(option("--node-rank <n>", "this node's rank in a multi-node job", 0))
    .option("--rdzv-endpoint <host:port>", "torchrun's c10d rendezvous every node reaches (default: a free loopback port, one node)")
    .option("--rdzv-id <id>", `the job's rendezvous id (default: ${rdzvIdDefault})`)
    .option("--dist-backend <name>", "torch.distributed backend: gloo or nccl (default: nccl on CUDA, gloo on CPU)");
}

export function distributedFromOptions(o: DistributedOptionValues): DistributedParams {
  return {
    nprocPerNode: o.nproc,
    nnodes: o.nnodes,
    nodeRank: o.nodeRank,
    rdzvEndpoint: o.rdzvEndpoint,
    rdzvId: o.rdzvId,
    backend: o.distBackend as "gloo" | "nccl" | undefined,
  };
}
