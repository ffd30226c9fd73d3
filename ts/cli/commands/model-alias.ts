// `robustseg model alias`: stable names for model ids (Predict, Probe and the Open Inference
// Protocol take them wherever they take an id).
import { Command } from "commander";
import type { CliContext } from "../context.js";
import { UsageError } from "../errors.js";
import { parseGlobalOptions } from "../global-options.js";
import { printResult } from "../output.js";
import { renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

export interface ModelAliasResult {
  aliases: { alias: string; modelId: string }[];
  /** Set or removed by this command (null when only listing). */
  changed: { alias: string; modelId: string; previousModelId: string } | null;
}

export function modelAliasCommand(context: CliContext): Command {
  return new Command("alias")
    .summary("name a model (or list the names)")
    .description(
      "`model alias NAME MODEL_ID` points NAME at a model; `model alias --remove NAME` removes it; `model alias` lists all. " +
        "Aliases live in the worker's workspace; predict, probe and Open Inference Protocol clients may use them instead of ids.",
    )
    .argument("[name]", "the alias: letters, digits, '.', '_', '-'")
    .argument("[model-id]", "the model it names")
    .option("--remove", "remove the alias NAME")
    .action(async (name: string | undefined, modelId: string | undefined, options: { remove?: boolean }, cmd: Command) => {
      const globals = parseGlobalOptions(cmd, context.io.env);
      if (options.remove && (name === undefined || modelId !== undefined)) throw new UsageError("--remove: give the alias only (model alias --remove NAME)");
      if (!options.remove && name !== undefined && modelId === undefined) throw new UsageError("model-id: required to set an alias (model alias NAME MODEL_ID)");
      const result = await withWorker(context, globals, async ({ client, signal }): Promise<ModelAliasResult> => {
        let changed: ModelAliasResult["changed"] = null;
        if (name !== undefined) {
          const response = await client.setModelAlias(name, options.remove ? "" : (modelId as string), { signal, timeoutMs: 30_000 });
          changed = { alias: name, modelId: response.alias?.modelId ?? "", previousModelId: response.previousModelId };
        }
        const aliases = (await client.listModelAliases({ signal, timeoutMs: 30_000 })).map((a) => ({ alias: a.alias, modelId: a.modelId }));
        return { aliases, changed };
      });
      printResult(context.io, globals, result, renderAliases);
    });
}

export function modelCommand(context: CliContext): Command {
  return new Command("model").summary("model names (alias)").description("Trained models on the worker.").addCommand(modelAliasCommand(context));
}

export function renderAliases(result: ModelAliasResult): string {
  const head = result.changed
    ? result.changed.modelId
      ? `${result.changed.alias} → ${result.changed.modelId}${result.changed.previousModelId ? ` (was ${result.changed.previousModelId})` : ""}\n\n`
      : `removed ${result.changed.alias} (was ${result.changed.previousModelId})\n\n`
    : "";
  if (result.aliases.length === 0) return `${head}no aliases`;
  return head + renderTable({ head: ["alias", "model"], rows: result.aliases.map((a) => [a.alias, a.modelId]) });
}
