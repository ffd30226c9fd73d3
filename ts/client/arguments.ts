// Checks of what the library's entry points (spawnWorker, connectWorker, WorkerClient) take from
// their callers. A plain-JavaScript caller gets no help from the types, and a value of the wrong
// kind would otherwise fail far from its cause or, worse, be misread: a string where a list of
// folders belongs taken apart character by character, NaN as a timeout. Each error is one line
// naming the entry point and the option: "spawnWorker: startTimeoutMs: must be a finite number > 0, got NaN".

/** A value as an error message shows it: strings quoted, numbers as written, else their kind. */
export function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? ((value as object).constructor?.name ?? "an object") : typeof value;
}

/** The checks of one entry point's arguments; `where` names it in every message. */
export class ArgumentChecks {
  constructor(private readonly where: string) {}

  fail(key: string, expected: string, value: unknown, kind: "type" | "range" = "type"): never {
    const message = `${this.where}: ${key}: must be ${expected}, got ${shown(value)}`;
    throw kind === "type" ? new TypeError(message) : new RangeError(message);
  }

  /** The options object itself. */
  options<T extends object>(value: T | undefined, required: boolean): T | Record<string, never> {
    if (value === undefined && !required) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) this.fail("options", "an object", value);
    return value;
  }

  string(key: string, value: unknown): string {
    if (typeof value !== "string" || value.trim() === "") this.fail(key, "a non-empty string", value);
    return value;
  }

  optionalString(key: string, value: unknown): string | undefined {
    return value === undefined ? undefined : this.string(key, value);
  }

  oneOf<const T extends string>(key: string, value: unknown, accepted: RegExp, expected: string): T | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !accepted.test(value)) this.fail(key, expected, value);
    return value as T;
  }

  /** A finite number > 0 (NaN and ±Infinity refused). */
  positiveNumber(key: string, value: unknown): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number") this.fail(key, "a finite number > 0", value);
    if (!Number.isFinite(value) || value <= 0) this.fail(key, "a finite number > 0", value, "range");
    return value;
  }

  integer(key: string, value: unknown, min: number): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number") this.fail(key, `an integer >= ${min}`, value);
    if (!Number.isSafeInteger(value) || value < min) this.fail(key, `an integer >= ${min}`, value, "range");
    return value;
  }

  callback(key: string, value: unknown): void {
    if (value !== undefined && typeof value !== "function") this.fail(key, "a function", value);
  }

  boolean(key: string, value: unknown): void {
    if (value !== undefined && typeof value !== "boolean") this.fail(key, "true or false", value);
  }

  signal(key: string, value: unknown): void {
    if (value !== undefined && !(value instanceof AbortSignal)) this.fail(key, "an AbortSignal", value);
  }

  object(key: string, value: unknown): void {
    if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value))) this.fail(key, "an object", value);
  }

  bytes(key: string, value: unknown): void {
    if (value !== undefined && !(value instanceof Uint8Array)) this.fail(key, "a Buffer (PEM bytes)", value);
  }

  /**
   * A list of paths: one string is a list of that one path (never its characters); an array
   * must hold non-empty strings.
   */
  pathList(key: string, value: unknown): string[] {
    if (value === undefined) return [];
    if (typeof value === "string") return [this.string(key, value)];
    if (!Array.isArray(value)) this.fail(key, "a path or an array of paths", value);
    return value.map((item: unknown, i) => this.string(`${key}[${i}]`, item));
  }
}

/** TLS options: PEM bytes, a client certificate and key together, a server name as a string. */
export function checkTlsOptions(check: ArgumentChecks, tls: unknown): void {
  if (tls === undefined) return;
  check.object("tls", tls);
  const { ca, cert, key, serverName } = tls as Record<string, unknown>;
  check.bytes("tls.ca", ca);
  check.bytes("tls.cert", cert);
  check.bytes("tls.key", key);
  if ((cert === undefined) !== (key === undefined)) check.fail(cert === undefined ? "tls.cert" : "tls.key", "given with the other of tls.cert and tls.key", undefined);
  check.optionalString("tls.serverName", serverName);
}
