/**
 * Runs one benchmark and prints its result as JSON. run.ts starts a fresh process per benchmark,
 * so no benchmark runs on code the JIT shaped for another, or in a heap another one filled.
 */
import { BENCHMARKS } from './registry.js';

const name = process.argv[2];
const b = BENCHMARKS.find((x) => x.name === name);
if (b === undefined) {
  process.stderr.write(`bench: unknown benchmark ${String(name)}\n`);
  process.exitCode = 2;
} else {
  process.stdout.write(JSON.stringify(await b.run()) + '\n');
}
