/**
 * The dmasim command line (Node only): `run <scenario>`, `scenarios`, `bench`. Exit status 0 when
 * the run completed, 1 when --fail-on matched a finding, 2 for bad usage or bad input (with a
 * message naming the bad value and the accepted ones).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { benchMain } from '../../bench/cli.js';
import { ConfigError } from '../lib/errors.js';
import { processIo } from './io.js';
import type { CliIo } from './io.js';
import { alignTable } from './format-report.js';
import { addFidelityCommand } from './fidelity-command.js';
import { addReplayCommand } from './replay-command.js';
import { addRunCommand } from './run-command.js';
import { addCheckCommand } from './check-command.js';

/** The package version, from the package.json above this file (src/cli or dist/src/cli). */
export function version(): string {
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

function addScenariosCommand(program: Command, io: CliIo): void {
  program
    .command('scenarios')
    .description('list the scenarios with a line on each')
    .option('--json', 'one JSON document: [{ name, summary, archs, options }]')
    .addHelpText('after', '\nExamples:\n  $ dmasim scenarios\n  $ dmasim scenarios --json')
    .action((f: { json?: boolean }) => {
      const list = io.scenarios.map((s) => ({
        name: s.name,
        summary: s.summary,
        archs: s.archs,
        options: s.params.map((p) => ({ ...p })),
      }));
      io.stdout(
        f.json === true
          ? JSON.stringify(list, null, 2) + '\n'
          : alignTable(
              list.map((s) => [s.name, s.summary]),
              '',
            ).join('\n') +
              '\n\nRun one with: dmasim run <scenario> [options]; options: dmasim run <scenario> --help\n',
      );
    });
}

function addBenchCommand(program: Command, io: CliIo, status: { code: number }): void {
  program
    .command('bench')
    .description('run the benchmarks (each in a fresh process) and print a table')
    .argument('[name...]', 'benchmarks to run (default: all)')
    .option('--json', 'one JSON document { results: [...] }')
    .addHelpText('after', '\nExamples:\n  $ dmasim bench e1000/txrx\n  $ dmasim bench --json')
    .action((names: string[], f: { json?: boolean }) => {
      status.code = benchMain(
        [...names, ...(f.json === true ? ['--json'] : [])],
        io.stdout,
        io.stderr,
      );
    });
}

export function buildProgram(io: CliIo, status: { code: number }): Command {
  const v = version();
  const program = new Command('dmasim')
    .description(
      'An executable model of the Linux DMA path: caches that hold bytes, an IOMMU, SWIOTLB, devices and their drivers, with checkers that name the missing call.',
    )
    .version(v)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        io.stdout(s);
      },
      writeErr: (s) => {
        io.stderr(s);
      },
    })
    .addHelpText(
      'after',
      '\nExamples:\n  $ dmasim scenarios\n  $ dmasim run coherence --arch arm64\n  $ dmasim run e1000 --iommu strict --checkers all --json\n  $ dmasim bench',
    );
  addRunCommand(program, io, v, status);
  addReplayCommand(program, io, v);
  addFidelityCommand(program, io, v);
  addCheckCommand(program, io, v, status);
  addScenariosCommand(program, io);
  addBenchCommand(program, io, status);
  return program;
}

/** Runs the command; @returns the exit status. */
export function main(argv: string[], io: CliIo = processIo): number {
  const status = { code: 0 };
  try {
    buildProgram(io, status).parse(argv, { from: 'user' });
    return status.code;
  } catch (e) {
    if (e instanceof ConfigError) {
      io.stderr(`dmasim: ${e.message}\n`);
      return 2;
    }
    const ce = e as { code?: string };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      if (ce.code === 'commander.unknownCommand' && argv[0] === 'run')
        io.stderr(`the scenarios are: ${io.scenarios.map((s) => s.name).join(', ')}\n`);
      const ok = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
      return ok.includes(ce.code) ? 0 : 2;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.stderr(`dmasim: internal error (a bug; please report it with the command line): ${msg}\n`);
    return 70;
  }
}
