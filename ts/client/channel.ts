// Channel settings shared by every connection to a worker: explicit message-size limits (grpc-js
// receives only 4 MiB by default), the bearer token as call metadata, and transport security
// (TLS, optionally mutual) for workers beyond loopback.
import { readFileSync } from "node:fs";
import { type ChannelOptions, credentials, type ChannelCredentials, Metadata } from "@grpc/grpc-js";

/** Both directions; the worker sets the same limit on its side (GetInfo.max_message_bytes). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** TLS to the worker. Without `ca` the system's root certificates verify the worker. */
export interface TlsOptions {
  /** PEM of the CA that signed the worker's certificate. */
  ca?: Buffer | undefined;
  /** Mutual TLS: this client's PEM certificate (chain) and private key. */
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  /** The name the worker's certificate must carry, when it is not the host dialled. */
  serverName?: string | undefined;
}

/** File paths of the TLS material, as the CLI and the ROBUSTSEG_TLS_* variables give them. */
export interface TlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  serverName?: string | undefined;
}

export class TlsConfigError extends Error {
  override readonly name = "TlsConfigError";
}

/** Reads the PEM files (undefined when none is given: plain TCP). Errors name the option. */
export function loadTlsFiles(files: TlsFiles | undefined): TlsOptions | undefined {
  if (!files || (!files.ca && !files.cert && !files.key)) return undefined;
  if (Boolean(files.cert) !== Boolean(files.key)) throw new TlsConfigError("--tls-cert and --tls-key go together (mutual TLS needs both)");
  const read = (flag: string, path: string | undefined, marker: string): Buffer | undefined => {
    if (!path) return undefined;
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (error) {
      throw new TlsConfigError(`${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    if (!data.includes(marker)) throw new TlsConfigError(`${flag} ${path}: not a PEM file with a ${marker.replace(/-/g, "").trim()} block`);
    return data;
  };
  return {
    ca: read("--tls-ca", files.ca, "-----BEGIN CERTIFICATE-----"),
    cert: read("--tls-cert", files.cert, "-----BEGIN CERTIFICATE-----"),
    key: read("--tls-key", files.key, "PRIVATE KEY-----"),
    serverName: files.serverName,
  };
}

/** Message limits, plus the expected certificate name when TLS names one. */
export function channelOptions(tls?: TlsOptions): ChannelOptions {
  const options: ChannelOptions = {
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  };
  if (tls?.serverName) options["grpc.ssl_target_name_override"] = tls.serverName;
  return options;
}

/** Plain TCP (a worker on loopback, docs/ARCHITECTURE.md section 12), or TLS when `tls` is given. */
export function channelCredentials(tls?: TlsOptions): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
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

/** True when a gRPC failure's details say the TLS handshake failed (wrong CA, no client certificate...). */
export function isTlsFailure(details: string): boolean {
  return /certificate|ssl|tls|handshake|alert|wrong version number|self[- ]signed|unable to verify|CERT_/i.test(details);
}
