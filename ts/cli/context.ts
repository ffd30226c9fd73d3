// What a command needs from the outside world, injectable so tests can run the CLI in-process.

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The stream progress bars draw on, when it is a terminal; undefined otherwise. */
  progressStream: NodeJS.WriteStream | undefined;
  env: NodeJS.ProcessEnv;
}

export interface CliContext {
  io: CliIO;
  /** Install SIGINT/SIGTERM handlers around worker sessions (the real CLI does; tests don't). */
  handleSignals: boolean;
}

export function processIO(): CliIO {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    progressStream: process.stderr.isTTY ? process.stderr : undefined,
    env: process.env,
  };
}
