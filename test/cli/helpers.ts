/** Runs the command in-process with a fake io; what it printed and its exit status. */
import { main } from '../../src/cli/main.js';
import { processIo } from '../../src/cli/io.js';

export function runCli(args: string[]): { status: number; out: string; err: string } {
  let out = '';
  let err = '';
  const status = main(args, {
    ...processIo,
    isTTY: false,
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
  });
  return { status, out, err };
}
