import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';

function run(args: string[]): { status: number; out: string; err: string } {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const status = main(args);
  vi.restoreAllMocks();
  return { status, out, err };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('dmasim', () => {
  it('runs the demonstration by default', () => {
    const r = run([]);
    expect(r.status).toBe(0);
    expect(r.out).toContain('noncoherent-dev (non-coherent)');
    expect(r.out).toMatch(/STALE: read RAM only/);
  });

  it('prints one JSON document with --json', () => {
    const r = run(['demo', '--arch', 'arm32', '--json']);
    const doc = JSON.parse(r.out) as {
      arch: string;
      steps: { observations: { fresh: boolean }[] }[];
    };
    expect(doc.arch).toBe('arm32');
    expect(doc.steps[0]?.observations.map((o) => o.fresh)).toEqual([true, false]);
  });

  it('exits 2 naming the bad value and the accepted ones', () => {
    const r = run(['demo', '--arch', 'sparc']);
    expect(r.status).toBe(2);
    expect(r.err).toContain(
      "argument 'sparc' is invalid. Allowed choices are x86_64, arm64, arm32, prep.",
    );
    expect(run(['demo', '--seed', '-1']).status).toBe(2);
    expect(run(['frobnicate', 'x']).status).toBe(2);
  });
});
