// Channel settings shared by every connection to a worker: explicit message-size limits (grpc-js
// receives only 4 MiB by default) and the bearer token as call metadata.
import { type ChannelOptions, credentials, type ChannelCredentials, Metadata } from "@grpc/grpc-js";

/** Both directions; the worker sets the same limit on its side (GetInfo.max_message_bytes). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export const channelOptions: ChannelOptions = {
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
};

/** Plain TCP: the worker listens on loopback unless told otherwise (docs/ARCHITECTURE.md section 12). */
export function channelCredentials(): ChannelCredentials {
  return credentials.createInsecure();
}

/** Metadata every call carries: `authorization: Bearer T` when a token is set. */
export function callMetadata(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/** `HOST:PORT` check for --worker; IPv6 hosts go in brackets (`[::1]:50051`). */
export function parseWorkerAddress(address: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address.trim());
  if (!match) return undefined;
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: match[1] as string, port };
}
