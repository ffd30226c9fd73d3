// The one place every failure of the CLI goes through: a one-line message on stderr (the stack,
// the worker's stderr and causes only with --verbose) and the exit code.
import { CommanderError } from "commander";
import { ZodError } from "zod";
import { ProtocolError, WorkerError } from "../client/errors.js";
import { ConfusionMatrixError } from "../metrics/confusion-matrix.js";
import { SpecError } from "../experiment/spec.js";
import { isTlsFailure, TlsConfigError } from "../client/channel.js";
import { WorkerExitedError, WorkerStartError } from "../worker/errors.js";
import { describeFileError, errnoCode } from "../files/make-folder.js";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** Bad command-line input: names the option; exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The user interrupted (Ctrl-C); exit code 130. */
export class InterruptedError extends Error {
  override readonly name = "InterruptedError";
  constructor() {
    super("interrupted");
  }
}

export interface ErrorReport {
  /** What to print on stderr (one line unless verbose). */
  text: string;
  exitCode: number;
}

export function reportError(error: unknown, verbose: boolean): ErrorReport {
  if (error instanceof CommanderError) {
    // Help and version displays end the parse too; they are not failures.
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return { text: "", exitCode: 0 };
    // Help was already printed as the explanation (e.g. a command group without a subcommand).
    if (error.code === "commander.help") return { text: "", exitCode: EXIT_USAGE };
    return { text: line(error.message.replace(/^error: /, "")), exitCode: EXIT_USAGE };
  }
  const exitCode = error instanceof UsageError || error instanceof SpecError || error instanceof TlsConfigError ? EXIT_USAGE : error instanceof InterruptedError ? EXIT_INTERRUPTED : EXIT_FAILURE;
  const summary = line(summarise(error));
  if (!verbose) return { text: summary, exitCode };
  return { text: [summary, ...details(error)].join("\n"), exitCode };
}

function summarise(error: unknown): string {
  if (error instanceof UsageError || error instanceof InterruptedError) return error.message;
  if (error instanceof WorkerError) return explainWorkerError(error);
  if (error instanceof WorkerStartError || error instanceof WorkerExitedError) {
    const last = lastErrorLine(error.stderrTail);
    if (last) return `${error.summary}: ${last}`;
    return error.stderrTail.length > 0 ? `${error.summary} (--verbose shows the worker's log)` : error.summary;
  }
  if (error instanceof ProtocolError) return `unexpected answer from the worker: ${error.message}`;
  if (error instanceof ConfusionMatrixError) return `unexpected answer from the worker: ${error.message}`;
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    return `${issue?.path.join(".") || "input"}: ${issue?.message ?? "invalid"}`;
  }
  // A Node file-system error (ENOSPC, ENAMETOOLONG, ELOOP, ENOENT, ...): the path and the
  // reason in words, without the syscall's own wording or a stack.
  if (errnoCode(error) !== undefined) return describeFileError(error);
  if (error instanceof Error) return error.message;
  return String(error);
}

/** gRPC status codes in words; the worker's details name the field or the id. */
export function explainWorkerError(error: WorkerError): string {
  const d = firstLine(error.details);
  switch (error.codeName) {
    case "INVALID_ARGUMENT":
      return `invalid argument: ${d}`;
    case "NOT_FOUND":
      return /not found/i.test(d) ? d : `not found: ${d}`;
    case "FAILED_PRECONDITION":
      return `cannot do that now: ${d}`;
    case "RESOURCE_EXHAUSTED":
      return `the worker ran out of resources: ${d}`;
    case "CANCELLED":
      return "cancelled";
    case "DEADLINE_EXCEEDED":
      return `the worker did not answer ${error.rpc} in time`;
    case "UNAVAILABLE":
      if (isTlsFailure(d)) return `TLS with the worker failed (${error.rpc}): ${d} (check --tls-ca, --tls-cert/--tls-key)`;
      return `the worker is unavailable (${error.rpc}): ${d}`;
    case "UNAUTHENTICATED":
    case "PERMISSION_DENIED":
      return `the worker refused ${error.rpc}: ${d} (check --token or ROBUSTSEG_TOKEN)`;
    case "UNIMPLEMENTED":
      return `the worker does not implement ${error.rpc} (are the CLI and the worker the same version?)`;
    default:
      return `the worker failed in ${error.rpc} (${error.codeName}): ${d}`;
  }
}

function details(error: unknown): string[] {
  const out: string[] = [];
  if (error instanceof WorkerError) out.push(`gRPC status: ${error.codeName} (${error.code}) in ${error.rpc}`, `details: ${error.details}`);
  if ((error instanceof WorkerStartError || error instanceof WorkerExitedError) && error.stderrTail.length > 0) {
    out.push("worker stderr (last lines):", ...error.stderrTail.map((l) => `  ${l}`));
  }
  let current: unknown = error;
  let depth = 0;
  while (current instanceof Error && depth < 5) {
    if (current.stack) out.push(depth === 0 ? current.stack : `caused by: ${current.stack}`);
    current = current.cause;
    depth++;
  }
  return out;
}

function firstLine(text: string): string {
  return text.split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? text.trim();
}

function line(text: string): string {
  return firstLine(text) || "unknown error";
}

/** The last stderr line that reports a failure: for a Python traceback, the exception itself. */
function lastErrorLine(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]?.trim();
    if (l && /error|exception|fatal|critical|killed|abort|denied|cannot|failed/i.test(l)) return l;
  }
  return undefined;
}
