// The CLI entry (bin/robustseg.mjs imports this through tsx).
import { processIO } from "./context.js";
import { runCli } from "./program.js";

const exitCode = await runCli(process.argv.slice(2), { io: processIO(), handleSignals: true });
process.exit(exitCode);
