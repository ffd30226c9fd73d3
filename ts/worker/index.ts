// Opening a worker the way the global options say: connect to --worker, or spawn one.
import type { TlsOptions } from "../client/channel.js";
import type { WorkerConnection } from "./connection.js";
import { connectWorker } from "./remote.js";
import { spawnWorker, type WorkerDevice } from "./supervisor.js";

export type { WorkerConnection } from "./connection.js";
export { WorkerExitedError, WorkerStartError } from "./errors.js";
export { resolveWorkerPython } from "./interpreter.js";
export { connectWorker, RemoteWorker } from "./remote.js";
export { spawnWorker, SupervisedWorker, type WorkerDevice } from "./supervisor.js";

export interface OpenWorkerOptions {
  /** HOST:PORT of a running worker; when absent a worker is spawned. */
  worker?: string | undefined;
  token?: string | undefined;
  /** TLS to a --worker (ignored for a spawned one: it listens on loopback). */
  tls?: TlsOptions | undefined;
  workspace: string;
  device?: WorkerDevice | undefined;
  onStderrLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  /** A spawned worker's --data-root folders (ignored for --worker: that one has its own); one path is a list of one. */
  dataRoots?: string | readonly string[] | undefined;
  /** A spawned worker only reads its workspace (--read-only); ignored for --worker. */
  readOnly?: boolean | undefined;
}

export function openWorker(options: OpenWorkerOptions): Promise<WorkerConnection> {
  if (options.worker !== undefined) {
    return connectWorker({ address: options.worker, token: options.token, tls: options.tls, signal: options.signal });
  }
  return spawnWorker({
    workspace: options.workspace,
    device: options.device,
    token: options.token,
    onStderrLine: options.onStderrLine,
    signal: options.signal,
    env: options.env,
    dataRoots: options.dataRoots,
    readOnly: options.readOnly,
  });
}
