/**
 * Running a scenario: its options checked and defaulted, the environment built, the scenario run,
 * the report assembled. Everything a scenario writes to files comes back for the caller to save
 * (the core never touches a file system).
 */
import { ConfigError } from '../lib/errors.js';
import { parseSize } from './options.js';
import type { ParamValue, RunOptions } from './options.js';
import { buildReport } from './report.js';
import type { RunReport } from './report.js';
import { ScenarioEnv } from './scenario.js';
import type { ParamSpec, Scenario } from './scenario.js';

export interface RunResult {
  readonly report: RunReport;
  /** ftrace text per booted kernel (with --trace). */
  readonly traces: readonly { readonly label: string; readonly text: string }[];
  /** Other files the scenario produced (a pcap), by kind. */
  readonly files: ReadonlyMap<string, Uint8Array | string>;
}

/** Checks one scenario option given as text; the default when `raw` is undefined. */
export function parseParam(s: Scenario, p: ParamSpec, raw: string | undefined): ParamValue {
  if (raw === undefined) return p.default;
  const what = `${s.name}: --${p.name}`;
  switch (p.kind) {
    case 'choice':
      if (p.choices?.includes(raw) === true) return raw;
      throw new ConfigError(`${what}: "${raw}" is not one of ${(p.choices ?? []).join(', ')}`);
    case 'size':
      return inRange(what, p, parseSize(what, raw), raw);
    case 'int': {
      const n = Number(raw);
      if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n))
        throw new ConfigError(`${what}: "${raw}" is not a whole number`);
      return inRange(what, p, n, raw);
    }
  }
}

function inRange(what: string, p: ParamSpec, n: number, raw: string): number {
  if ((p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max))
    throw new ConfigError(
      `${what}: ${raw} is out of range; give ${String(p.min ?? '-inf')} to ${String(p.max ?? 'inf')}`,
    );
  return n;
}

/** Every option of `s`, from text where given, else its default. Unknown names are errors. */
export function resolveParams(
  s: Scenario,
  raw: Readonly<Record<string, string>>,
): Record<string, ParamValue> {
  for (const name of Object.keys(raw))
    if (!s.params.some((p) => p.name === name))
      throw new ConfigError(
        `${s.name}: no option --${name}; it takes ${s.params.map((p) => `--${p.name}`).join(', ') || 'no options of its own'}`,
      );
  return Object.fromEntries(s.params.map((p) => [p.name, parseParam(s, p, raw[p.name])]));
}

/**
 * Runs `s` with `opts` (params checked by resolveParams; absent ones take their defaults).
 * `outputs` names the files the caller will write, for the report.
 */
export function runScenario(
  s: Scenario,
  opts: RunOptions,
  version: string,
  progress?: (done: number, total: number) => void,
  outputs: RunReport['outputs'] = {},
): RunResult {
  if (!s.archs.includes(opts.arch))
    throw new ConfigError(
      `${s.name}: --arch ${opts.arch} is not supported; it runs on ${s.archs.join(', ')}`,
    );
  // MODEL: PReP's PCI bus offset is applied before translation, so IOMMU DMA there would fault
  // on every access; the real boards have no IOMMU.
  if (opts.arch === 'prep' && opts.iommu !== 'off')
    throw new ConfigError(
      `${s.name}: --iommu ${opts.iommu} on prep: the PReP profile has no IOMMU; use --iommu off`,
    );
  // Options not given take their defaults.
  const defaults = Object.fromEntries(s.params.map((p) => [p.name, p.default]));
  const full: RunOptions = { ...opts, params: { ...defaults, ...opts.params } };
  const env = new ScenarioEnv(full, progress);
  s.run(env);
  return {
    report: buildReport(version, s.name, full, env, outputs),
    traces: env.traces(),
    files: env.files,
  };
}
