/**
 * Error classes, by severity (DESIGN.md "Errors"; gem5's panic/fatal split).
 * Expected kernel failures are return values, device faults are DMA results; these are for
 * the two cases that must stop the run.
 */

/** The user's configuration or input is wrong; the message says what, where and how to fix it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** An invariant of the simulator broke: a bug in dmasim, never the user's fault. */
export class SimulatorBug extends Error {
  override readonly name = 'SimulatorBug';
}

/** Throws SimulatorBug unless `cond` holds. Hot paths pass the message as a function. */
export function assert(cond: boolean, msg: string | (() => string)): asserts cond {
  if (!cond) throw new SimulatorBug(typeof msg === 'string' ? msg : msg());
}

/** A CPU access that reached no memory and no device: a bug in the simulated kernel or driver. */
export class BusError extends Error {
  override readonly name = 'BusError';
}
