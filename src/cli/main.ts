/**
 * The dmasim command line (Node only). Bad usage exits with status 2 and a message naming the bad
 * value and the accepted ones.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../lib/errors.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { ArchName } from '../machine/profile.js';
import { runCoherenceDemo } from '../scenarios/coherence.js';
import { formatDemo } from './format-demo.js';

/** The package version, from the package.json above this file (src/cli or dist/src/cli). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const text = readFileSync(new URL(up, import.meta.url), 'utf8');
      const pkg = JSON.parse(text) as { name?: string; version?: string };
      if (pkg.name === 'dmasim' && pkg.version !== undefined) return pkg.version;
    } catch {
      // not at this level; try the next one up
    }
  }
  return 'unknown';
}

function parseSeed(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new InvalidArgumentError(`"${v}" is not a seed; give an integer from 0 to 4294967295.`);
  }
  return n;
}

export function buildProgram(): Command {
  const program = new Command('dmasim')
    .description(
      'An executable model of the Linux DMA path: caches that hold bytes, an IOMMU, devices.',
    )
    .version(version())
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program
    .command('demo', { isDefault: true })
    .description('the same CPU-write/device-read sequence on a coherent and a non-coherent device')
    .addOption(
      new Option('--arch <arch>', 'architecture profile').choices(ARCH_NAMES).default('x86_64'),
    )
    .option('--seed <n>', 'seed of every random choice', parseSeed, 1)
    .option('--json', 'print one JSON document instead of text')
    .addHelpText('after', '\nExamples:\n  $ dmasim demo\n  $ dmasim demo --arch arm64 --json')
    .action((opts: { arch: ArchName; seed: number; json?: boolean }) => {
      const demo = runCoherenceDemo({ arch: opts.arch, seed: opts.seed });
      process.stdout.write(
        opts.json === true ? JSON.stringify(demo, jsonBytes, 2) + '\n' : formatDemo(demo),
      );
    });
  return program;
}

function jsonBytes(_key: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Array.from(v) : v;
}

export function main(argv: string[]): number {
  try {
    buildProgram().parse(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`dmasim: ${e.message}\n`);
      return 2;
    }
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      return ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' ? 0 : 2;
    }
    throw e;
  }
}
