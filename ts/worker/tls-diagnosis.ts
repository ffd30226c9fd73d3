// When a TLS connection to a worker fails, grpc-js often says only "Failed to connect". A plain
// TLS handshake with the same settings (node:tls) tells why: an unknown CA, a certificate for
// another name, or the worker's alert that it requires a client certificate.
import { connect } from "node:tls";
import type { TlsOptions } from "../client/channel.js";
import { parseWorkerAddress } from "../client/channel.js";

/** The handshake's failure in words, or undefined when a TLS session comes up and stays up. */
export function diagnoseTls(address: string, tls: TlsOptions, timeoutMs = 3000): Promise<string | undefined> {
  const parsed = parseWorkerAddress(address);
  if (!parsed) return Promise.resolve(undefined);
  const host = parsed.host.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    let settled = false;
    const finish = (why: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const socket = connect({
      host,
      port: parsed.port,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      servername: tls.serverName ?? (/^[\d.:]+$/.test(host) ? undefined : host),
      ALPNProtocols: ["h2"],
    });
    // Under TLS 1.3 a worker that requires client certificates rejects a missing or foreign one
    // only after the client's side of the handshake is done: it closes the connection at once.
    let handshakeDone = false;
    const dropped = tls.cert
      ? "the worker closed the connection after the handshake: it did not accept this client certificate"
      : "the worker closed the connection after the handshake: it requires a client certificate";
    socket.once("secureConnect", () => {
      handshakeDone = true;
      setTimeout(() => finish(undefined), 500);
    });
    // OpenSSL's text may span lines (a queue of errors): the CLI reports one line.
    socket.once("error", (error: Error) => finish(oneLine(error.message.replace(/^[^:]*routines:/, ""))));
    socket.once("end", () => finish(handshakeDone ? dropped : "the worker closed the connection during the TLS handshake"));
    socket.once("close", () => finish(handshakeDone ? dropped : "the worker closed the connection during the TLS handshake"));
    const timer = setTimeout(() => finish(undefined), timeoutMs);
  });
}

function oneLine(text: string): string {
  return text.split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? text.trim();
}
