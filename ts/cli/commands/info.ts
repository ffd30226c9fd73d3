// `robustseg info`: what the worker is (version, device, torch, threads, backends, sources).
import { Command } from "commander";
import { getWorkerInfo, type WorkerInfo } from "../../ops/worker-info.js";
import type { CliContext } from "../context.js";
import { bytes } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { printResult } from "../output.js";
import { renderKeyValues } from "../table.js";
import { withWorker } from "../worker-session.js";

export interface InfoResult extends WorkerInfo {
  address: string;
  /** "spawned" (started for this command) or "remote" (--worker). */
  connection: "spawned" | "remote";
}

export function infoCommand(context: CliContext): Command {
  return new Command("info")
    .summary("show the worker: version, device, torch, backends")
    .description("Start (or reach, with --worker) a worker and show what it runs on: version, device, torch, threads, model backends, data sources.")
    .action(async (_options, command: Command) => {
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, async ({ connection, client, signal }) => ({
        address: connection.address,
        connection: connection.kind,
        ...(await getWorkerInfo(client, { signal })),
      }));
      printResult(context.io, globals, result, renderInfo);
    });
}

export function renderInfo(info: InfoResult): string {
  return renderKeyValues([
    ["worker", `${info.address} (${info.connection})`],
    ["version", info.version],
    ["device", info.device === info.deviceType ? info.device : `${info.device} (${info.deviceType})`],
    ["torch", `${info.torchVersion}, ${info.torchThreads} thread${info.torchThreads === 1 ? "" : "s"}`],
    ["backends", info.backends.join(", ")],
    ["data sources", info.dataSources.join(", ")],
    ["capabilities", info.capabilities.join(", ")],
    ["workspace", info.workspace],
    ["max message", bytes(info.maxMessageBytes)],
  ]);
}
