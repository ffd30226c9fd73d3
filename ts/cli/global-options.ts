// Options every command accepts: where the workspace is, which worker, how to talk.
import { type Command, Option } from "commander";
import { z } from "zod";
import { choice, hostPort } from "./option-schemas.js";
import { parseOptions } from "./parse-options.js";

export const DEFAULT_WORKSPACE = "runs/workspace";
export const DEVICES = ["auto", "cpu", "cuda"] as const;

export const globalOptionsSchema = z.object({
  workspace: z.string().trim().min(1, "must not be empty"),
  worker: hostPort().optional(),
  token: z.string().min(1, "must not be empty").optional(),
  tlsCa: z.string().trim().min(1, "must not be empty").optional(),
  tlsCert: z.string().trim().min(1, "must not be empty").optional(),
  tlsKey: z.string().trim().min(1, "must not be empty").optional(),
  tlsServerName: z.string().trim().min(1, "must not be empty").optional(),
  device: choice(DEVICES),
  verbose: z.boolean().default(false),
  json: z.boolean().default(false),
  quiet: z.boolean().default(false),
  /** --data-root DIR (repeatable) plus the folders a command's data source names. */
  dataRoot: z.array(z.string().trim().min(1, "must not be empty")).default([]),
});

export type GlobalOptions = z.output<typeof globalOptionsSchema>;

export function addGlobalOptions(program: Command): Command {
  return program
    .option("-w, --workspace <dir>", "artifact workspace of a spawned worker (datasets, models)", DEFAULT_WORKSPACE)
    .option("--worker <host:port>", "use the worker already running there instead of spawning one")
    .option("--token <token>", "bearer token for --worker (default: $ROBUSTSEG_TOKEN)")
    .option("--tls-ca <file>", "TLS to --worker: PEM CA that signed the worker's certificate (default: $ROBUSTSEG_TLS_CA)")
    .option("--tls-cert <file>", "mutual TLS: this client's PEM certificate (default: $ROBUSTSEG_TLS_CERT)")
    .option("--tls-key <file>", "mutual TLS: this client's PEM private key (default: $ROBUSTSEG_TLS_KEY)")
    .option("--tls-server-name <name>", "the name in the worker's certificate, when it is not the host of --worker")
    .addOption(new Option("--device <device>", "device of a spawned worker").choices(DEVICES).default("auto"))
    .option("--data-root <dir>", "a folder a spawned worker may read data files from (repeatable; default: the folders the data source names)", collect, [])
    .option("--json", "print the result as JSON on stdout, nothing else")
    .option("-q, --quiet", "no progress bars; only the result on stdout")
    .option("-v, --verbose", "forward the worker's log to stderr; stack traces on errors");
}

/** The global options of `command`, validated; the token and TLS files fall back to ROBUSTSEG_* variables. */
export function parseGlobalOptions(command: Command, env: NodeJS.ProcessEnv): GlobalOptions {
  const values = command.optsWithGlobals<Record<string, unknown>>();
  const fallback = (key: string, variable: string) => values[key] ?? (env[variable] || undefined);
  return parseOptions(
    globalOptionsSchema,
    {
      ...values,
      token: fallback("token", "ROBUSTSEG_TOKEN"),
      tlsCa: fallback("tlsCa", "ROBUSTSEG_TLS_CA"),
      tlsCert: fallback("tlsCert", "ROBUSTSEG_TLS_CERT"),
      tlsKey: fallback("tlsKey", "ROBUSTSEG_TLS_KEY"),
      tlsServerName: fallback("tlsServerName", "ROBUSTSEG_TLS_SERVER_NAME"),
    },
    command,
  );
}

/** --verbose as typed, readable before validation (the error handler needs it even then). */
export function verboseRequested(argv: readonly string[]): boolean {
  return argv.some((a) => a === "--verbose" || a === "-v" || /^-[a-zA-Z]*v[a-zA-Z]*$/.test(a));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
