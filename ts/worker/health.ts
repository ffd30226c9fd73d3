// The standard grpc.health.v1 check: one probe, and a wait for SERVING with exponential backoff.
import { type ServiceError, status } from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../generated/grpc/health/v1/health.js";
import { callMetadata, channelCredentials, channelOptions, isTlsFailure, type TlsOptions } from "../client/channel.js";
import { sleep } from "./timers.js";

export type ServingStatus = keyof typeof HealthCheckResponse_ServingStatus;

/** One Health.Check call on the whole server (service ""). Rejects with the gRPC error. */
export function checkHealth(
  client: HealthClient,
  options: { token?: string | undefined; timeoutMs: number },
): Promise<HealthCheckResponse_ServingStatus> {
  return new Promise((resolve, reject) => {
    client.check(
      { service: "" },
      callMetadata(options.token),
      { deadline: Date.now() + options.timeoutMs },
      (error: ServiceError | null, response) => (error ? reject(error) : resolve(response.status)),
    );
  });
}

export interface WaitForServingOptions {
  token?: string | undefined;
  tls?: TlsOptions | undefined;
  /** Epoch milliseconds after which waiting fails. */
  deadline: number;
  /** Aborting stops the wait (e.g. the worker process exited); the wait rejects with the reason. */
  signal?: AbortSignal;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export class HealthTimeoutError extends Error {
  override readonly name = "HealthTimeoutError";
  constructor(
    readonly address: string,
    readonly lastProblem: string,
  ) {
    super(`worker at ${address} did not report SERVING in time (last: ${lastProblem})`);
  }
}

/** Polls Health.Check until SERVING; backoff doubles from initialDelayMs up to maxDelayMs. */
export async function waitForServing(address: string, options: WaitForServingOptions): Promise<void> {
  const client = new HealthClient(address, channelCredentials(options.tls), channelOptions(options.tls));
  let delay = options.initialDelayMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 1000;
  let lastProblem = "no answer yet";
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const remaining = options.deadline - Date.now();
      if (remaining <= 0) throw new HealthTimeoutError(address, lastProblem);
      try {
        const status = await checkHealth(client, { token: options.token, timeoutMs: Math.min(remaining, 5000) });
        if (status === HealthCheckResponse_ServingStatus.SERVING) return;
        lastProblem = `status ${HealthCheckResponse_ServingStatus[status] ?? status}`;
      } catch (error) {
        if (isFatal(error)) throw new HealthRefusedError(address, describeGrpcError(error), error);
        lastProblem = describeGrpcError(error);
      }
      options.signal?.throwIfAborted();
      await sleep(Math.min(delay, Math.max(0, options.deadline - Date.now())), options.signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  } finally {
    client.close();
  }
}

/** The worker answered, but will never say SERVING to us: no point retrying. */
export class HealthRefusedError extends Error {
  override readonly name = "HealthRefusedError";
  constructor(
    readonly address: string,
    readonly problem: string,
    readonly grpcError: unknown,
  ) {
    super(`worker at ${address} refused the health check: ${problem}`, { cause: grpcError });
  }
}

function isFatal(error: unknown): boolean {
  const code = (error as Partial<ServiceError>).code;
  if (code === status.UNAUTHENTICATED || code === status.PERMISSION_DENIED || code === status.UNIMPLEMENTED) return true;
  // A TLS handshake that fails (wrong CA, no client certificate, TLS against plain TCP) fails
  // the same way every time: say so at once instead of retrying until the deadline.
  return code === status.UNAVAILABLE && isTlsFailure(describeGrpcError(error));
}

function describeGrpcError(error: unknown): string {
  const e = error as Partial<ServiceError>;
  return typeof e.details === "string" && e.details !== "" ? e.details : String(error);
}
