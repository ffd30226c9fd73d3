// gRPC failures of calls to the worker, as one typed error.
import { Metadata, type ServiceError, status as Status } from "@grpc/grpc-js";

/** The name of a gRPC status code, e.g. "NOT_FOUND". */
export type StatusName = keyof typeof Status;

export function statusName(code: number): StatusName | "UNKNOWN" {
  return (Status[code] as StatusName | undefined) ?? "UNKNOWN";
}

/** A call to the worker failed with a gRPC status (INVALID_ARGUMENT, NOT_FOUND, ...). */
export class WorkerError extends Error {
  override readonly name = "WorkerError";
  readonly codeName: StatusName | "UNKNOWN";

  constructor(
    /** gRPC status code (grpc-js `status` enum). */
    readonly code: Status,
    /** The worker's message, e.g. "config.epochs: must be > 0, got -1". */
    readonly details: string,
    /** The RPC that failed, e.g. "Train". */
    readonly rpc: string,
    readonly metadata?: Metadata,
    options?: { cause?: unknown },
  ) {
    super(`${rpc}: ${statusName(code)}: ${details}`, options);
    this.codeName = statusName(code);
  }
}

export function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === "number" &&
    "details" in error &&
    "metadata" in error
  );
}

/** Turns whatever a grpc-js call rejected with into a WorkerError (non-gRPC errors pass through). */
export function toWorkerError(error: unknown, rpc: string): unknown {
  if (error instanceof WorkerError) return error;
  if (isServiceError(error)) {
    return new WorkerError(error.code, error.details || error.message, rpc, error.metadata, { cause: error });
  }
  return error;
}

/** A stream ended without its result event, or sent something the contract does not allow. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(
    readonly rpc: string,
    message: string,
  ) {
    super(`${rpc}: ${message}`);
  }
}
