// Embedding from the command line, against real workers: predict and probe on image files, model
// aliases, and TLS (a throwaway CA made at test time): TLS works; a wrong CA, a missing client
// certificate under mutual TLS, a missing or wrong token are each refused with a clear error.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { execa, type ResultPromise } from "execa";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeRgbPng } from "../ts/imaging/png.js";
import { readNpy } from "../ts/imaging/npy.js";
import { resolveWorkerPython } from "../ts/worker/interpreter.js";
import { pythonWorkerDir } from "../ts/worker/paths.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { scratchDir } from "./fixtures/scripts.js";

const repo = join(import.meta.dirname, "..");
const dir = scratchDir("robustseg-embed-");
const images = join(dir, "images");
let worker: SupervisedWorker;
let modelId: string;
let testDatasetId: string;

async function robustseg(args: string[], env: Record<string, string> = {}) {
  const result = await execa("node", [join(repo, "bin", "robustseg.mjs"), ...args], { cwd: dir, env, reject: false, timeout: 120_000, stdin: "ignore" });
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}
const viaWorker = (args: string[]) => robustseg(["--worker", worker.address, ...args], { ROBUSTSEG_TOKEN: worker.token ?? "" });

function writeImage(path: string, width: number, height: number, seed: number): void {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    data[i] = s % 256;
  }
  writeFileSync(path, encodeRgbPng({ width, height, data }));
}

beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "workspace"), device: "cpu" });
  const created = JSON.parse((await viaWorker(["dataset", "create", "--tile-size", "16", "--train", "8", "--validation", "4", "--test", "4", "--seed", "5", "--json"])).stdout);
  const ids = Object.fromEntries(created.datasets.map((d: { split: string; id: string }) => [d.split, d.id]));
  testDatasetId = ids.test;
  const trained = await viaWorker(["train", "--train", ids.train, "--validation", ids.validation, "--epochs", "1", "--batch-size", "4", "--depth", "2", "--base-width", "4", "--json"]);
  modelId = JSON.parse(trained.stdout).model.id;
  // The images in a folder of their own: an output may not be inside an input folder.
  mkdirSync(images);
  writeImage(join(images, "a.png"), 16, 16, 1);
  writeImage(join(images, "odd.png"), 37, 21, 2);
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("robustseg predict / probe / model alias", () => {
  it("predict writes a palette mask per image at the image's size, probabilities and the index", async () => {
    const out = join(dir, "masks");
    const { code, stdout, stderr } = await viaWorker(["predict", "--model", modelId, "--input", images, "--out", out, "--probabilities", "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.images.map((i: { name: string }) => i.name)).toEqual(["a", "odd"]);
    expect(result.classColors).toHaveLength(result.classNames.length);
    for (const image of result.images) {
      expect(image.classShares.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 9);
      const png = PNG.sync.read(readFileSync(join(out, image.mask)));
      expect([png.width, png.height]).toEqual([image.width, image.height]);
      const probabilities = readNpy(readFileSync(join(out, image.probabilities)));
      expect(probabilities.shape).toEqual([result.classNames.length, image.height, image.width]);
    }
    // The mask's pixel values are the class indices: argmax of the probabilities.
    const raw = readFileSync(join(out, "odd.png"));
    const decoded = PNG.sync.read(raw, { skipRescale: true });
    const probs = readNpy(readFileSync(join(out, "odd.probabilities.npy"))).data as Float32Array;
    const colors = result.classColors.map((c: string) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
    const plane = 21 * 37;
    for (let p = 0; p < plane; p += 37) {
      let best = 0;
      for (let c = 1; c < colors.length; c++) if ((probs[c * plane + p] as number) > (probs[best * plane + p] as number)) best = c;
      expect([decoded.data[p * 4], decoded.data[p * 4 + 1], decoded.data[p * 4 + 2]]).toEqual(colors[best]);
    }
    expect(existsSync(join(out, "predictions.json"))).toBe(true);
  });

  it("probe reports the attack's effect per image and writes masks and the attacked image", async () => {
    const out = join(dir, "probe");
    const { code, stdout, stderr } = await viaWorker(["probe", "--model", modelId, "--input", join(images, "odd.png"), "--steps", "2", "--epsilon", "0.02", "--out", out, "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    const [image] = result.images;
    const agreement: number[][] = image.agreement;
    expect(agreement.flat().reduce((a, b) => a + b, 0)).toBe(37 * 21);
    const foreground = agreement.slice(1).flat().reduce((a, b) => a + b, 0);
    expect(image.foregroundPixels).toBe(foreground);
    if (foreground > 0) expect(image.foregroundToBackground).toBeCloseTo(agreement.slice(1).reduce((a, row) => a + (row[0] as number), 0) / foreground, 12);
    expect(image.linf).toBeLessThanOrEqual(0.02 + 1e-6);
    expect(result.workerAttack).toMatchObject({ method: "pgd", epsilon: 0.02, steps: 2, target: 0 });
    for (const f of [image.cleanMask, image.attackedMask, image.adversarialImage, image.adversarialArray]) expect(existsSync(join(out, f))).toBe(true);
  });

  it("aliases name models for predict; a dataset id where a model id belongs is refused naming the field", async () => {
    const set = await viaWorker(["model", "alias", "nuclei", modelId, "--json"]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout).aliases).toEqual([{ alias: "nuclei", modelId }]);
    const viaAlias = JSON.parse((await viaWorker(["predict", "--model", "nuclei", "--input", join(images, "a.png"), "--json"])).stdout);
    expect(viaAlias.modelId).toBe(modelId);
    const wrong = await viaWorker(["predict", "--model", testDatasetId, "--input", join(images, "a.png")]);
    // Refused by the CLI before the worker is asked (the worker's own check: test_serving.py).
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(`error: --model: ${testDatasetId} is a dataset id; give a model id (m-…)`); // execa strips the newline
    const removed = await viaWorker(["model", "alias", "--remove", "nuclei", "--json"]);
    expect(JSON.parse(removed.stdout).aliases).toEqual([]);
  });
});

// ---- TLS ----

interface TlsWorker {
  address: string;
  process: ResultPromise;
}

async function startTlsWorker(args: string[]): Promise<TlsWorker> {
  const child = execa(resolveWorkerPython(), ["-m", "robustseg_worker", "--listen", "127.0.0.1:0", "--workspace", join(dir, "tls-ws"), "--parent-pid", String(process.pid), ...args], {
    env: { PYTHONPATH: pythonWorkerDir },
    stdin: "ignore",
    stderr: "ignore",
    reject: false,
    buffer: false,
  });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once("line", resolve);
    lines.once("close", () => reject(new Error("worker exited before it was ready")));
  });
  const port = (JSON.parse(line) as { address: string }).address.split(":")[1];
  return { address: `localhost:${port}`, process: child };
}

describe("TLS between the CLI and a worker (throwaway CA)", () => {
  const pki = join(dir, "pki");
  const token = "tls-t0ken";
  let tls: TlsWorker;
  let mutual: TlsWorker;

  beforeAll(async () => {
    execFileSync("bash", [join(repo, "test", "fixtures", "make-test-certs.sh"), pki]);
    const serverFlags = ["--token", token, "--tls-cert", join(pki, "server.pem"), "--tls-key", join(pki, "server.key")];
    [tls, mutual] = await Promise.all([startTlsWorker(serverFlags), startTlsWorker([...serverFlags, "--tls-client-ca", join(pki, "ca.pem")])]);
  });
  afterAll(() => {
    tls?.process.kill("SIGKILL");
    mutual?.process.kill("SIGKILL");
  });

  const info = (target: TlsWorker, flags: string[], env: Record<string, string> = { ROBUSTSEG_TOKEN: token }) =>
    robustseg(["--worker", target.address, ...flags, "info", "--json"], env);

  it("works with the CA, and with a client certificate under mutual TLS", async () => {
    const plain = await info(tls, ["--tls-ca", join(pki, "ca.pem")]);
    expect(plain.stderr).toBe("");
    expect(JSON.parse(plain.stdout).capabilities).toContain("open_inference_protocol");
    const both = await info(mutual, [], { ROBUSTSEG_TOKEN: token, ROBUSTSEG_TLS_CA: join(pki, "ca.pem"), ROBUSTSEG_TLS_CERT: join(pki, "client.pem"), ROBUSTSEG_TLS_KEY: join(pki, "client.key") });
    expect(both.code).toBe(0);
  });

  it("refuses a wrong CA, a missing client certificate, a missing or wrong token, each with a clear error", async () => {
    const wrongCa = await info(tls, ["--tls-ca", join(pki, "other-ca.pem")]);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toMatch(/^error: worker at localhost:\d+ refused the health check: .*(certificate|SSL|TLS).* \(TLS: check --tls-ca/);
    const noClientCert = await info(mutual, ["--tls-ca", join(pki, "ca.pem")]);
    expect(noClientCert.code).toBe(1);
    expect(noClientCert.stderr).toMatch(/^error: (TLS with the worker at localhost:\d+ failed|worker at localhost:\d+ refused the health check): .*certificate.*\(.*check --tls-ca, and --tls-cert\/--tls-key if the worker requires client certificates\)/);
    const noToken = await info(tls, ["--tls-ca", join(pki, "ca.pem")], {});
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^error: .*refused.*: missing or wrong bearer token.*\(check --token or ROBUSTSEG_TOKEN\)$/);
    const wrongToken = await info(tls, ["--tls-ca", join(pki, "ca.pem"), "--token", "nope"]);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(/missing or wrong bearer token.*\(check --token or ROBUSTSEG_TOKEN\)$/);
    const badFile = await info(tls, ["--tls-ca", join(pki, "nope.pem")]);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toMatch(/^error: --tls-ca .*nope\.pem: cannot read it/);
  });
});
