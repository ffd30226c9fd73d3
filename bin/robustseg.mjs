#!/usr/bin/env node
// Launcher. In a clone it runs the TypeScript CLI through tsx, so no build step stands between a
// clone and a run; an installed package (npm pack / npm install) has no ts/ and runs the
// compiled dist/ instead.
import { existsSync } from "node:fs";

if (existsSync(new URL("../ts/cli/main.ts", import.meta.url))) {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../ts/cli/main.ts");
} else {
  await import("../dist/cli/main.js");
}
