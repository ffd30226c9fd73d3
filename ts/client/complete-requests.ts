// A request built by hand in plain JavaScript, or by a caller written against an older contract,
// may leave out fields the contract has since gained (a new int32 in UNetSpec, say); the
// generated encoders refuse an undefined scalar ("invalid int32: undefined"). The client
// therefore completes every request with its message's generated `fromPartial` before encoding:
// an absent field takes the contract's zero value, which the worker reads as "its default" (the
// contract's rule for every optional number). Each RPC X takes an XRequest (contract rule), which
// is how a method finds its message type.
import { makeGenericClientConstructor } from "@grpc/grpc-js";
import * as attack from "../generated/robustseg/v1/attack.js";
import * as data from "../generated/robustseg/v1/data.js";
import * as figure from "../generated/robustseg/v1/figure.js";
import * as model from "../generated/robustseg/v1/model.js";
import * as predict from "../generated/robustseg/v1/predict.js";
import * as store from "../generated/robustseg/v1/store.js";
import * as workerService from "../generated/robustseg/v1/worker_service.js";
import { WorkerServiceClient, WorkerServiceService } from "../generated/robustseg/v1/worker_service.js";

interface MessageType {
  fromPartial(value: unknown): unknown;
}

const MESSAGES: Record<string, unknown> = { ...attack, ...data, ...figure, ...model, ...predict, ...store, ...workerService };

function requestType(path: string): MessageType {
  const name = `${path.slice(path.lastIndexOf("/") + 1)}Request`;
  const type = MESSAGES[name] as Partial<MessageType> | undefined;
  if (typeof type?.fromPartial !== "function") throw new Error(`internal: no generated message ${name} for ${path}`);
  return type as MessageType;
}

type MethodDefinition = (typeof WorkerServiceService)[keyof typeof WorkerServiceService];

/** WorkerServiceService with each method's request completed by `fromPartial` before encoding. */
export const completingWorkerService = Object.fromEntries(
  Object.entries(WorkerServiceService).map(([name, definition]: [string, MethodDefinition]) => {
    const type = requestType(definition.path);
    const serialize = definition.requestSerialize as (value: unknown) => Buffer;
    return [name, { ...definition, requestSerialize: (value: unknown): Buffer => serialize(type.fromPartial(value)) }];
  }),
) as unknown as typeof WorkerServiceService;

/** The generated client over `completingWorkerService`: same methods and types. */
export const CompletingWorkerServiceClient = makeGenericClientConstructor(
  completingWorkerService,
  "robustseg.v1.WorkerService",
) as unknown as typeof WorkerServiceClient;
