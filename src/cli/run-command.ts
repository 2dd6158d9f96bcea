/**
 * `dmasim run <scenario>`: one subcommand per scenario, each with the shared options and its
 * own, so `dmasim run e1000 --help` lists exactly what e1000 takes.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import {
  IOMMU_MODES,
  SWIOTLB_MODES,
  DEFAULT_RUN_OPTIONS,
  parseCheckers,
  parseNs,
  parseSize,
} from '../scenarios/options.js';
import type { CheckerName, IommuMode, RunOptions, SwiotlbMode } from '../scenarios/options.js';
import type { RunReport } from '../scenarios/report.js';
import { resolveParams, runScenario } from '../scenarios/run.js';
import type { RunResult } from '../scenarios/run.js';
import type { Scenario } from '../scenarios/scenario.js';
import { ConfigError } from '../lib/errors.js';
import { INVALIDATION_NS } from '../machine/iommu/iommu.js';
import type { ArchName } from '../machine/profile.js';
import { formatReport } from './format-report.js';
import { Progress } from './progress.js';
import type { CliIo } from './io.js';

/** The flags addMachineOptions declares. */
export interface MachineFlags {
  arch: ArchName;
  ram: number;
  iommu: IommuMode;
  swiotlb: SwiotlbMode;
  swiotlbSize?: number;
  iotlbInvNs?: number;
  cmdline: string;
}

/** RunOptions' machine part, from those flags. */
export function machineOptions(
  f: MachineFlags,
): Pick<
  RunOptions,
  'arch' | 'ramSize' | 'iommu' | 'swiotlb' | 'swiotlbSize' | 'iotlbInvalidationNs' | 'cmdline'
> {
  return {
    arch: f.arch,
    ramSize: f.ram,
    iommu: f.iommu,
    swiotlb: f.swiotlb,
    ...(f.swiotlbSize === undefined ? {} : { swiotlbSize: f.swiotlbSize }),
    ...(f.iotlbInvNs === undefined ? {} : { iotlbInvalidationNs: f.iotlbInvNs }),
    cmdline: f.cmdline,
  };
}

interface SharedFlags extends MachineFlags {
  coherent?: boolean;
  seed: number;
  checkers: CheckerName[];
  json?: boolean;
  trace?: string;
  pcap?: string;
  failOn?: string[];
}

/** Commander wants InvalidArgumentError from parsers; ours throw ConfigError. */
export function parser<T>(fn: (v: string) => T): (v: string) => T {
  return (v) => {
    try {
      return fn(v);
    } catch (e) {
      if (e instanceof ConfigError) throw new InvalidArgumentError(e.message);
      throw e;
    }
  };
}

export function parseSeed(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > 0xffffffff)
    throw new InvalidArgumentError(`"${v}" is not a seed; give an integer from 0 to 4294967295.`);
  return n;
}

/** --fail-on: finding kinds, or any, error, warning. */
export function parseKinds(v: string): string[] {
  const kinds = v.split(',').map((s) => s.trim());
  if (kinds.some((k) => !/^[a-z0-9-]+$/.test(k)))
    throw new InvalidArgumentError(
      `"${v}" is not a list of finding kinds; give kinds such as stale-cpu-read,unmap-wrong-size, or any, error, warning`,
    );
  return kinds;
}

/** The machine options `run` and `replay` share: arch, RAM, IOMMU, SWIOTLB, command line. */
export function addMachineOptions(c: Command, archs: readonly string[]): Command {
  const d = DEFAULT_RUN_OPTIONS;
  return c
    .addOption(
      new Option('--arch <arch>', 'architecture profile')
        .choices(archs)
        .default(archs[0] ?? d.arch),
    )
    .option(
      '--ram <size>',
      'RAM size, e.g. 512M or 6G',
      parser((v) => parseSize('--ram', v)),
      d.ramSize,
    )
    .addOption(new Option('--iommu <mode>', 'IOMMU').choices(IOMMU_MODES).default(d.iommu))
    .addOption(
      new Option('--swiotlb <mode>', 'bounce buffering').choices(SWIOTLB_MODES).default(d.swiotlb),
    )
    .option(
      '--swiotlb-size <size>',
      'SWIOTLB pool size (swiotlb=<slots>)',
      parser((v) => parseSize('--swiotlb-size', v)),
    )
    .option(
      '--iotlb-inv-ns <ns>',
      `CPU time of one IOTLB invalidation request, in ns (default ${INVALIDATION_NS})`,
      parser((v) => parseNs('--iotlb-inv-ns', v)),
    )
    .option('--cmdline <text>', 'more kernel command line (wins over the options above)', '');
}

function addShared(c: Command, s: Scenario): void {
  const d = DEFAULT_RUN_OPTIONS;
  addMachineOptions(c, s.archs)
    .option('--coherent', "devices snoop the CPU cache (override the profile's default)")
    .option('--no-coherent', 'devices do not snoop the CPU cache')
    .option('--seed <n>', 'seed of every random choice', parseSeed, d.seed)
    .option(
      '--checkers <list>',
      `checkers to attach: ${['dma-debug', 'coherence', 'iommu'].join(',')}, all or none`,
      parser(parseCheckers),
      [...d.checkers],
    )
    .option('--json', 'print one JSON document (schema/run-report.schema.json) and nothing else')
    .option('--trace <file>', 'write the dma/iommu/swiotlb events as kernel ftrace text')
    .option(
      '--fail-on <kinds>',
      'exit with status 1 when a finding of these kinds (or any, error, warning) occurs',
      parseKinds,
    );
  if (s.files?.includes('pcap') === true)
    c.option('--pcap <file>', 'write every frame on the wire to a pcap file');
}

function addParams(c: Command, s: Scenario): void {
  for (const p of s.params) {
    const accepted = p.kind === 'choice' ? ` (${(p.choices ?? []).join(', ')})` : '';
    // No commander default: an option left out takes the scenario's own (typed) default.
    c.option(
      `--${p.name} <${p.kind === 'choice' ? 'value' : p.kind}>`,
      `${p.description}${accepted} (default: ${String(p.default)})`,
    );
  }
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

export function addRunCommand(
  program: Command,
  io: CliIo,
  version: string,
  status: { code: number },
): void {
  const run = program.command('run').description('run a scenario (dmasim scenarios lists them)');
  run.addHelpText(
    'after',
    '\nExamples:\n  $ dmasim run coherence --arch arm64\n  $ dmasim run e1000 --help',
  );
  for (const s of io.scenarios) {
    const c = run.command(s.name).description(s.summary);
    addShared(c, s);
    addParams(c, s);
    c.addHelpText('after', `\nExamples:\n${s.examples.map((e) => `  $ ${e}`).join('\n')}`);
    c.action((flags: SharedFlags & Record<string, unknown>) => {
      status.code = runOne(s, flags, io, version);
    });
  }
}

function runOne(
  s: Scenario,
  f: SharedFlags & Record<string, unknown>,
  io: CliIo,
  version: string,
): number {
  const raw: Record<string, string> = {};
  for (const p of s.params) {
    const v = f[camel(p.name)];
    if (typeof v === 'string') raw[p.name] = v;
  }
  const opts: RunOptions = {
    ...machineOptions(f),
    ...(f.coherent === undefined ? {} : { coherent: f.coherent }),
    seed: f.seed,
    checkers: f.checkers,
    trace: f.trace !== undefined,
    pcap: f.pcap !== undefined,
    params: resolveParams(s, raw),
  };
  const progress = new Progress(io.isTTY && f.json !== true, s.name, io.stderrStream);
  let result: RunResult;
  try {
    result = runScenario(s, opts, version, (d, t) => {
      progress.update(d, t);
    });
  } finally {
    progress.stop();
  }
  const report: RunReport = { ...result.report, outputs: writeOutputs(result, f, io) };
  io.stdout(f.json === true ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return failOn(report, f.failOn) ? 1 : 0;
}

function writeOutputs(r: RunResult, f: SharedFlags, io: CliIo): RunReport['outputs'] {
  const out: Record<string, { file: string; bytes: number }> = {};
  if (f.trace !== undefined)
    for (const t of r.traces) {
      const file = r.traces.length === 1 ? f.trace : withLabel(f.trace, t.label);
      out[r.traces.length === 1 ? 'trace' : `trace.${t.label}`] = {
        file,
        bytes: io.writeFile(file, t.text),
      };
    }
  const pcap = r.files.get('pcap');
  if (f.pcap !== undefined && pcap !== undefined)
    out['pcap'] = { file: f.pcap, bytes: io.writeFile(f.pcap, pcap) };
  return out;
}

/** trace.txt with label "iommu" → trace.iommu.txt. */
function withLabel(file: string, label: string): string {
  const dot = file.lastIndexOf('.');
  return dot > file.lastIndexOf('/') && dot > 0
    ? `${file.slice(0, dot)}.${label}${file.slice(dot)}`
    : `${file}.${label}`;
}

function failOn(r: RunReport, kinds: readonly string[] | undefined): boolean {
  if (kinds === undefined) return false;
  return r.findings.some(
    (f) => kinds.includes('any') || kinds.includes(f.kind) || kinds.includes(f.severity),
  );
}
