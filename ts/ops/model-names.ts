// A model named by id or alias, as the embedding calls take it: the control plane needs its
// class names before it builds an attack (targets by name), so aliases are resolved here too.
import type { WorkerClient } from "../client/worker-client.js";
import type { ModelInfo } from "../generated/robustseg/v1/model.js";
import type { OperationContext } from "./reporter.js";

export const MODEL_ID_PATTERN = /^m-[0-9a-f]{16}$/;

export class ModelNameError extends Error {
  override readonly name = "ModelNameError";
}

/** The model `name` (an id, or an alias set with `robustseg model alias`) stands for. */
export async function resolveModel(client: WorkerClient, name: string, context: OperationContext = {}): Promise<ModelInfo> {
  const control = { signal: context.signal, timeoutMs: 30_000 };
  if (MODEL_ID_PATTERN.test(name)) return client.getModel(name, control);
  const alias = (await client.listModelAliases(control)).find((a) => a.alias === name);
  if (!alias) throw new ModelNameError(`--model ${name}: no model id or alias of that name on the worker (robustseg model alias lists them)`);
  return client.getModel(alias.modelId, control);
}
