// diagnoseTls against a TLS server that presents an expired certificate (the worker refuses one
// at start-up; a server elsewhere may not): the reason comes back as one line.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { diagnoseTls } from "./tls-diagnosis.js";

const dir = scratchDir("robustseg-tls-diagnosis-");
let server: Server | undefined;

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  if (!hasOpenssl()) return;
  execFileSync("bash", [join(import.meta.dirname, "..", "..", "test", "fixtures", "make-test-certs.sh"), dir]);
  server = createServer({ cert: readFileSync(join(dir, "expired.pem")), key: readFileSync(join(dir, "expired.key")), ALPNProtocols: ["h2"] });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
});
afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("diagnoseTls", () => {
  it("names an expired server certificate in one line", async (context) => {
    if (server === undefined) context.skip();
    const port = (server?.address() as AddressInfo).port;
    const why = await diagnoseTls(`127.0.0.1:${port}`, { ca: readFileSync(join(dir, "ca.pem")), serverName: "localhost" });
    expect(why).toBe("certificate has expired");
  });
});
