// A user's tree for the data-safety and fuzz suites: the files a user keeps beside robustseg
// (images to predict on, a folder of their own files, one named like a temporary of a robustseg
// write, a FIFO, links to devices and in a loop, specs), the output targets a command must
// refuse, and a byte-level snapshot of the tree to prove that a command changed nothing it was
// not told to write.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { PNG } from "pngjs";

export const LOOKALIKE_TEMPORARY = ".results.json.tmp-1-deadbeef";

/** A small RGB PNG tile. */
function writeTile(path: string, seed: number): void {
  const png = new PNG({ width: 16, height: 16 });
  for (let i = 0; i < png.data.length; i++) png.data[i] = i % 4 === 3 ? 255 : (i * 31 + seed * 17) % 256;
  writeFileSync(path, PNG.sync.write(png));
}

/** Writes the user's tree under `home`: images/ (2 tiles), notes/ (the user's files), fifo, links. */
export function writeUserTree(home: string): void {
  mkdirSync(join(home, "images"), { recursive: true });
  for (const i of [0, 1]) writeTile(join(home, "images", `tile-${i}.png`), i);
  mkdirSync(join(home, "notes"));
  writeFileSync(join(home, "notes", "results.json"), '{"mine": true}\n');
  writeFileSync(join(home, "notes", LOOKALIKE_TEMPORARY), "the user's own file\n");
  writeFileSync(join(home, "notes", "report.html"), "<p>mine</p>\n");
  execFileSync("mkfifo", [join(home, "fifo")]);
  symlinkSync("/dev/full", join(home, "to-device"));
  symlinkSync(join(home, "loop-b"), join(home, "loop-a"));
  symlinkSync(join(home, "loop-a"), join(home, "loop-b"));
}

/**
 * Output targets no command may write through, by kind; paths under `home` or device nodes.
 * `ofInput`: refused only for a command that reads home/images (predict, probe); for another
 * command it is an ordinary folder.
 */
export function refusedTargets(home: string): { kind: string; path: string; ofInput?: boolean }[] {
  return [
    { kind: "character device", path: "/dev/full" },
    { kind: "character device", path: "/dev/null" },
    { kind: "FIFO", path: join(home, "fifo") },
    { kind: "link to a device", path: join(home, "to-device") },
    { kind: "looping link", path: join(home, "loop-a") },
    { kind: "the input folder", path: join(home, "images"), ofInput: true },
    { kind: "a folder inside the input", path: join(home, "images", "masks"), ofInput: true },
  ];
}

/** One entry per path below `root`: what a byte-level change of it would change. */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (path: string) => {
    const st = lstatSync(path);
    const key = relative(root, path) || ".";
    if (st.isSymbolicLink()) out.set(key, `link ${readlinkSync(path)}`);
    else if (st.isDirectory()) {
      out.set(key, `dir ${st.mode.toString(8)}`);
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (st.isFile()) out.set(key, `file ${st.mode.toString(8)} ${st.size} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`);
    else out.set(key, `special ${st.mode.toString(8)} ${st.rdev}`);
  };
  visit(root);
  return out;
}

/** The paths whose entry differs between two snapshots, except those under an allowed output. */
export function changedOutside(before: Map<string, string>, after: Map<string, string>, allowed: readonly string[] = []): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  const inside = (key: string) => allowed.some((a) => key === a || key.startsWith(`${a}/`));
  return [...keys].filter((k) => before.get(k) !== after.get(k) && !inside(k)).sort();
}

/** The device nodes outside the tree a write could replace: each still a character device. */
export function deviceStates(): string {
  return ["/dev/null", "/dev/full"]
    .map((path) => {
      const st = lstatSync(path);
      return `${path} ${st.isCharacterDevice() ? "char" : "NOT A DEVICE"} ${st.rdev}`;
    })
    .join(", ");
}
