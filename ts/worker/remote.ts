// Connecting to a worker that is already running (`--worker HOST:PORT`), checking health first.
import { ArgumentChecks, checkTlsOptions } from "../client/arguments.js";
import { WorkerClient } from "../client/worker-client.js";
import { isTlsFailure, parseWorkerAddress, type TlsOptions } from "../client/channel.js";
import type { WorkerConnection } from "./connection.js";
import { WorkerStartError } from "./errors.js";
import { HealthRefusedError, HealthTimeoutError, waitForServing } from "./health.js";
import { diagnoseTls } from "./tls-diagnosis.js";

export class RemoteWorker implements WorkerConnection {
  readonly kind = "remote";
  readonly client: WorkerClient;

  constructor(
    readonly address: string,
    token: string | undefined,
    tls?: TlsOptions | undefined,
  ) {
    this.client = new WorkerClient(address, { token, tls });
  }

  describe(): string {
    return `worker at ${this.address}`;
  }

  async explainFailure(error: unknown): Promise<unknown> {
    return error;
  }

  async close(): Promise<void> {
    this.client.close();
  }

  killNow(): void {
    this.client.close();
  }
}

export interface ConnectWorkerOptions {
  address: string;
  token?: string | undefined;
  /** TLS to the worker (CA, client certificate for mutual TLS); unset = plain TCP. */
  tls?: TlsOptions | undefined;
  /** How long to wait for SERVING (default 10 s). */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Connects to a running worker; rejects with WorkerStartError unless it reports SERVING. */
export async function connectWorker(options: ConnectWorkerOptions): Promise<RemoteWorker> {
  const check = new ArgumentChecks("connectWorker");
  check.options(options, true);
  check.string("address", options.address);
  check.optionalString("token", options.token);
  checkTlsOptions(check, options.tls);
  check.positiveNumber("timeoutMs", options.timeoutMs);
  check.signal("signal", options.signal);
  if (!parseWorkerAddress(options.address)) {
    throw new WorkerStartError(`--worker: expected HOST:PORT, got ${options.address}`);
  }
  try {
    await waitForServing(options.address, {
      token: options.token,
      tls: options.tls,
      deadline: Date.now() + (options.timeoutMs ?? 10_000),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof HealthRefusedError) {
      const hint = isTlsFailure(error.problem)
        ? ` (TLS: check --tls-ca${options.tls?.cert ? "" : ", and --tls-cert/--tls-key if the worker requires client certificates"}${options.tls ? "" : "; the worker may expect TLS"})`
        : /unauthenticated|token|authoriz/i.test(error.problem)
          ? " (check --token or ROBUSTSEG_TOKEN)"
          : "";
      throw new WorkerStartError(`${error.message}${hint}`, [], { cause: error });
    }
    if (error instanceof HealthTimeoutError) {
      const tlsProblem = options.tls ? await diagnoseTls(options.address, options.tls) : undefined;
      if (tlsProblem) {
        throw new WorkerStartError(
          `TLS with the worker at ${options.address} failed: ${tlsProblem} (check --tls-ca${options.tls?.cert ? "" : ", and --tls-cert/--tls-key if the worker requires client certificates"})`,
          [],
          { cause: error },
        );
      }
      throw new WorkerStartError(`cannot reach a worker at ${options.address}: ${error.lastProblem}`, [], { cause: error });
    }
    throw error;
  }
  return new RemoteWorker(options.address, options.token, options.tls);
}
