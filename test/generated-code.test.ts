// The generated contract code is committed; this fails when regenerating from proto/ would
// change it (someone edited a .proto without running `npm run generate`, or edited the output).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const generatedDirs = ["ts/generated", "python_worker/robustseg_worker/proto"];

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "__pycache__") return [];
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

describe("generated contract code", () => {
  const scratch = mkdtempSync(join(tmpdir(), "robustseg-gen-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("is what scripts/generate-proto.sh makes from proto/", () => {
    execFileSync("bash", [join(root, "scripts", "generate-proto.sh"), scratch], { stdio: "pipe" });
    for (const dir of generatedDirs) {
      const fresh = listFiles(join(scratch, dir)).map((p) => relative(scratch, p)).sort();
      const committed = listFiles(join(root, dir)).map((p) => relative(root, p)).sort();
      expect(committed, `files under ${dir}`).toEqual(fresh);
      for (const file of fresh) {
        const want = readFileSync(join(scratch, file), "utf8");
        const have = readFileSync(join(root, file), "utf8");
        expect(have === want, `${file} is stale: run npm run generate`).toBe(true);
      }
    }
  });

  it("carries a do-not-edit header in every file", () => {
    for (const dir of generatedDirs) {
      for (const file of listFiles(join(root, dir))) {
        const head = readFileSync(file, "utf8").split("\n").slice(0, 3).join("\n");
        expect(head, file).toMatch(/DO NOT EDIT/);
      }
    }
  });
});
