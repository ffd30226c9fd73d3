// What the rest of the control plane holds: a client plus a way to let go of the worker,
// whether we spawned it (SupervisedWorker) or connected to one already running (RemoteWorker).
import type { WorkerClient } from "../client/worker-client.js";

export interface WorkerConnection {
  readonly kind: "spawned" | "remote";
  readonly address: string;
  readonly client: WorkerClient;
  /** e.g. "worker pid 123 at 127.0.0.1:4567". */
  describe(): string;
  /**
   * A failed call's error, explained: a spawned worker that died turns it into WorkerExitedError
   * carrying its stderr; anything else comes back unchanged.
   */
  explainFailure(error: unknown): Promise<unknown>;
  /** Spawned: graceful shutdown then kill. Remote: closes the channel only. Never rejects. */
  close(): Promise<void>;
  /** Last resort on a second Ctrl-C: spawned workers are killed at once; remote ones are left. */
  killNow(): void;
}
