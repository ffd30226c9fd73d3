#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx, so no build step stands between a clone and a run.
import { register } from "tsx/esm/api";

register();
await import("../ts/cli/main.ts");
