// Server-streaming calls as async iterators of their typed events, with cancellation, and a helper
// that drains a stream into its result event.
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { Progress } from "../generated/robustseg/v1/common.js";
import { ProtocolError, toWorkerError } from "./errors.js";

/** A ts-proto stream event: `{ event: { $case, value } | undefined }` (oneof=unions-value). */
export interface StreamEvent {
  event: { $case: string; value: unknown } | undefined;
}
export type EventOf<E extends StreamEvent> = NonNullable<E["event"]>;
export type ResultOf<E extends StreamEvent> = Extract<EventOf<E>, { $case: "result" }> extends { value: infer V } ? V : never;

/**
 * Iterates a grpc-js server stream, yielding the oneof of each message. Aborting `signal`
 * cancels the call; errors come out as WorkerError. Breaking out of the loop cancels the call too.
 */
export async function* iterateStream<E extends StreamEvent>(
  call: ClientReadableStream<E>,
  rpc: string,
  signal?: AbortSignal,
): AsyncGenerator<EventOf<E>, void, undefined> {
  const cancel = () => call.cancel();
  if (signal?.aborted) call.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  let finished = false;
  try {
    for await (const message of call as AsyncIterable<E>) {
      if (message.event !== undefined) yield message.event as EventOf<E>;
    }
    finished = true;
  } catch (error) {
    finished = true;
    throw toWorkerError(error, rpc);
  } finally {
    signal?.removeEventListener("abort", cancel);
    if (!finished) call.cancel();
  }
}

export interface DrainHandlers<E extends StreamEvent> {
  onProgress?: (progress: Progress) => void;
  /** Every event, progress and result included. */
  onEvent?: (event: EventOf<E>) => void;
}

/**
 * Consumes a stream to its end and returns the value of its result event; calls onProgress for
 * progress events and onEvent for all. A stream that ends without a result is a ProtocolError.
 */
export async function drainToResult<E extends StreamEvent>(
  events: AsyncIterable<EventOf<E>>,
  rpc: string,
  handlers: DrainHandlers<E> = {},
): Promise<ResultOf<E>> {
  let result: { value: ResultOf<E> } | undefined;
  for await (const event of events) {
    handlers.onEvent?.(event);
    if (event.$case === "progress") handlers.onProgress?.(event.value as Progress);
    else if (event.$case === "result") {
      if (result !== undefined) throw new ProtocolError(rpc, "stream sent more than one result event");
      result = { value: event.value as ResultOf<E> };
    }
  }
  if (result === undefined) throw new ProtocolError(rpc, "stream ended without a result event");
  return result.value;
}
