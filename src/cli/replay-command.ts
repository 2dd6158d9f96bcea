/**
 * `dmasim replay <trace>`: the recorded calls issued again on a simulated kernel with the settings
 * given (IOMMU mode, bounce pool, RAM, arch), and what happened there: maps that would fail, with
 * the kernel's message, SWIOTLB use, IOTLB invalidation requests, IOVA space, the addresses the
 * simulated kernel handed out next to the recorded ones.
 */
import type { Command } from 'commander';
import { Kernel } from '../kernel/kernel.js';
import { Machine } from '../machine/machine.js';
import { ARCH_NAMES } from '../machine/profile.js';
import { DEFAULT_RUN_OPTIONS, kernelCmdline, machineConfig } from '../scenarios/options.js';
import type { RunOptions } from '../scenarios/options.js';
import { StatsTracker } from '../scenarios/stats.js';
import type { RunStats } from '../scenarios/stats.js';
import { TraceReplayer } from '../trace/replay.js';
import type { ReplayResult } from '../trace/replay.js';
import { alignTable, statsLines } from './format-report.js';
import type { CliIo } from './io.js';
import { addMachineOptions, machineOptions } from './run-command.js';
import type { MachineFlags } from './run-command.js';
import { eachTraceRecord } from './trace-file.js';

interface ReplayFlags extends MachineFlags {
  json?: boolean;
  lenient?: boolean;
}

export interface ReplayJson {
  readonly dmasim: string;
  readonly trace: { readonly file: string; readonly lines: number; readonly events: number };
  readonly config: { readonly arch: string; readonly ramSize: number; readonly cmdline: string };
  readonly replay: ReplayResult;
  readonly stats: RunStats;
}

function replayFile(file: string, f: ReplayFlags, version: string): ReplayJson {
  const o: RunOptions = {
    ...DEFAULT_RUN_OPTIONS,
    ...machineOptions(f),
    checkers: [],
  };
  const cmdline = kernelCmdline(o);
  const k = new Kernel(new Machine(machineConfig(o)), { cmdline });
  const stats = new StatsTracker(k);
  const rp = new TraceReplayer(k);
  const summary = eachTraceRecord(file, f.lenient === true, (r) => {
    rp.push(r);
  });
  return {
    dmasim: version,
    trace: { file, lines: summary.lines, events: summary.events },
    config: { arch: o.arch, ramSize: o.ramSize, cmdline },
    replay: rp.finish(),
    stats: stats.snapshot(),
  };
}

function formatReplay(d: ReplayJson): string {
  const r = d.replay;
  const out = [
    `dmasim ${d.dmasim}: replay ${d.trace.file} (${d.trace.lines} lines, ${d.trace.events} events)`,
    `  machine   ${d.config.arch}, ${d.config.ramSize} bytes RAM`,
    `  cmdline   ${d.config.cmdline === '' ? '(empty)' : d.config.cmdline}`,
    '',
    ...alignTable([
      ['calls', String(r.calls)],
      ['replayed', String(r.replayed)],
      ['failed here (succeeded in the trace)', String(r.failed)],
      ['on mappings made before the trace began', String(r.preexisting)],
      ['on mappings whose map failed here', String(r.ofFailed)],
    ]),
    '',
  ];
  if (r.failures.length > 0) {
    out.push('First failures:');
    for (const x of r.failures.slice(0, 3)) {
      out.push(`  line ${x.line}: ${x.event} of ${x.size} bytes (${x.device})`);
      for (const l of x.log) out.push(`    kernel: ${l}`);
    }
    out.push('');
  }
  const f = r.iovaAtPeak;
  if (f !== null)
    out.push(
      `IOVA space below 4 GiB at the peak of live mappings (line ${f.line}): ${f.ranges} ranges, ${f.holes} free gaps, largest ${f.largestHolePages} pages, ${f.freePages} pages free`,
      '',
    );
  out.push('Addresses (recorded -> simulated):');
  out.push(
    ...alignTable(r.addresses.slice(0, 5).map((a) => [`line ${a.line}`, a.recorded, a.simulated])),
  );
  out.push('', 'Statistics:', ...statsLines(d.stats));
  return out.join('\n') + '\n';
}

export function addReplayCommand(program: Command, io: CliIo, version: string): void {
  const c = program
    .command('replay')
    .description(
      "issue a trace's recorded DMA calls again on a simulated kernel with other settings",
    )
    .argument('<trace>', 'the trace: /sys/kernel/tracing/trace text or trace-cmd report output');
  addMachineOptions(c, ARCH_NAMES)
    .option('--json', 'print one JSON document and nothing else')
    .option('--lenient', 'skip malformed lines instead of stopping (status 2)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dmasim replay trace.txt --iommu lazy\n  $ dmasim replay trace.txt --swiotlb force --swiotlb-size 512K --json',
    )
    .action((file: string, f: ReplayFlags) => {
      const doc = replayFile(file, f, version);
      io.stdout(f.json === true ? JSON.stringify(doc, null, 2) + '\n' : formatReplay(doc));
    });
}
