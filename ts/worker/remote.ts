// Connecting to a worker that is already running (`--worker HOST:PORT`), checking health first.
import { WorkerClient } from "../client/worker-client.js";
import { parseWorkerAddress } from "../client/channel.js";
import type { WorkerConnection } from "./connection.js";
import { WorkerStartError } from "./errors.js";
import { HealthRefusedError, HealthTimeoutError, waitForServing } from "./health.js";

export class RemoteWorker implements WorkerConnection {
  readonly kind = "remote";
  readonly client: WorkerClient;

  constructor(
    readonly address: string,
    token: string | undefined,
  ) {
    this.client = new WorkerClient(address, { token });
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
  /** How long to wait for SERVING (default 10 s). */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Connects to a running worker; rejects with WorkerStartError unless it reports SERVING. */
export async function connectWorker(options: ConnectWorkerOptions): Promise<RemoteWorker> {
  if (!parseWorkerAddress(options.address)) {
    throw new WorkerStartError(`--worker: expected HOST:PORT, got ${options.address}`);
  }
  try {
    await waitForServing(options.address, {
      token: options.token,
      deadline: Date.now() + (options.timeoutMs ?? 10_000),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof HealthRefusedError) {
      const hint = /unauthenticated|token|authoriz/i.test(error.problem) ? " (check --token or ROBUSTSEG_TOKEN)" : "";
      throw new WorkerStartError(`${error.message}${hint}`, [], { cause: error });
    }
    if (error instanceof HealthTimeoutError) {
      throw new WorkerStartError(`cannot reach a worker at ${options.address}: ${error.lastProblem}`, [], { cause: error });
    }
    throw error;
  }
  return new RemoteWorker(options.address, options.token);
}
