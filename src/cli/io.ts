/** What the command reaches outside itself, so tests can run it in-process. */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { SCENARIOS } from '../scenarios/registry.js';
import type { Scenario } from '../scenarios/scenario.js';
import { ConfigError } from '../lib/errors.js';

export interface CliIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly stderrStream: NodeJS.WritableStream;
  /** Whether stderr is a terminal (progress bars). */
  readonly isTTY: boolean;
  /** Writes a file whole; @returns its size in bytes. */
  readonly writeFile: (path: string, data: string | Uint8Array) => number;
  readonly scenarios: readonly Scenario[];
}

export const processIo: CliIo = {
  stdout: (s) => {
    process.stdout.write(s);
  },
  stderr: (s) => {
    process.stderr.write(s);
  },
  stderrStream: process.stderr,
  isTTY: process.stderr.isTTY,
  writeFile: (path, data) => {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    // Whole or not at all: the bytes go to a temporary file beside `path`, renamed over it only
    // once they are all written, so a failed write leaves an existing file as it was.
    const tmp = `${path}.${process.pid}.tmp`;
    let written = false;
    try {
      writeFileSync(tmp, bytes, { flag: 'wx' });
      written = true;
      renameSync(tmp, path);
    } catch (e) {
      if (written) rmSync(tmp, { force: true });
      const err = e as NodeJS.ErrnoException;
      throw new ConfigError(
        `cannot write ${path}: ${err.code ?? err.message}; check the directory exists and is writable`,
      );
    }
    return bytes.length;
  },
  scenarios: SCENARIOS,
};
