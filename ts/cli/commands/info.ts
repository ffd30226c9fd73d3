// `robustseg info`: what the worker is (version, device, torch, threads, sources) and each model
// backend with its architectures, defaults and whether its package is installed there.
import { Command } from "commander";
import { type BackendDescription, getWorkerInfo, type WorkerInfo } from "../../ops/worker-info.js";
import type { CliContext } from "../context.js";
import { bytes } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { printResult } from "../output.js";
import { renderKeyValues, renderSections } from "../table.js";
import { withWorker } from "../worker-session.js";

export interface InfoResult extends WorkerInfo {
  address: string;
  /** "spawned" (started for this command) or "remote" (--worker). */
  connection: "spawned" | "remote";
}

export function infoCommand(context: CliContext): Command {
  return new Command("info")
    .summary("show the worker: version, device, torch, model backends")
    .description(
      "Start (or reach, with --worker) a worker and show what it runs on: version, device, torch, threads, data sources, and " +
        "each model backend (unet, smp, monai) with its architectures, its defaults and whether its package is installed there. " +
        "--json gives the same, with smp's full encoder list.",
    )
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

/** "resnet18, resnet34, ... (120 in all)". */
function shortList(items: readonly string[], max = 6): string {
  if (items.length <= max) return items.join(", ");
  return `${items.slice(0, max).join(", ")}, ... (${items.length} in all; --json lists them)`;
}

function defaultsText(defaults: Record<string, unknown>): string {
  return Object.entries(defaults)
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(",") : typeof v === "string" && v === "" ? '""' : String(v)}`)
    .join(", ");
}

export function renderBackends(backends: readonly BackendDescription[]): string {
  return backends
    .map((b) => {
      const rows: [string, string][] = [
        ["available", b.available ? `yes${b.packageVersion ? ` (${b.packageVersion})` : ""}` : `no: ${b.unavailableReason || "its package is missing"}`],
      ];
      if (b.architectures.length > 0) rows.push(["architectures", b.architectures.join(", ")]);
      if (b.encoders.length > 0) rows.push(["encoders", shortList(b.encoders)]);
      if (Object.keys(b.defaults).length > 0) rows.push(["defaults", defaultsText(b.defaults)]);
      if (!b.known) rows.push(["note", "this CLI has no module for it (a newer worker?)"]);
      const body = renderKeyValues(rows).replace(/^/gm, "  ");
      return `${b.name}${b.description ? `: ${b.description}` : ""}\n${body}`;
    })
    .join("\n");
}

export function renderInfo(info: InfoResult): string {
  return renderSections([
    {
      body: renderKeyValues([
        ["worker", `${info.address} (${info.connection})`],
        ["version", info.version],
        ["device", info.device === info.deviceType ? info.device : `${info.device} (${info.deviceType})`],
        ["torch", `${info.torchVersion}, ${info.torchThreads} thread${info.torchThreads === 1 ? "" : "s"}`],
        ["data sources", info.dataSources.join(", ")],
        ["capabilities", info.capabilities.join(", ")],
        ["workspace", info.workspace],
        ["max message", bytes(info.maxMessageBytes)],
      ]),
    },
    { title: "model backends", body: renderBackends(info.backends) },
  ]);
}
