import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/cli/progress.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  // cli-progress draws only on a terminal.
  Object.assign(stream, { isTTY: true, columns: 80, cursorTo: () => true, clearLine: () => true });
  return { stream, text: () => text };
}

describe('the progress bar', () => {
  it('appears only once a run has taken about a second', () => {
    let t = 0;
    const s = sink();
    const p = new Progress(true, 'e1000', s.stream, () => t);
    p.update(1, 10);
    expect(s.text()).toBe('');
    t = 1500;
    p.update(5, 10);
    p.stop();
    expect(s.text()).toContain('e1000 [');
    expect(s.text()).toContain('5/10');
  });

  it('never appears when disabled (--json, or stderr not a terminal)', () => {
    let t = 0;
    const s = sink();
    const p = new Progress(false, 'e1000', s.stream, () => t);
    t = 5000;
    p.update(5, 10);
    p.stop();
    expect(s.text()).toBe('');
  });
});
