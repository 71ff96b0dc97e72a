import { describe, expect, it } from 'vitest';
import {
  type AlertInstance,
  nextState,
  type StateTiming,
} from '../../../../functions/shared/alerts/state.js';

const MIN = 60_000;

/** Runs a breach sequence (one evaluation per minute) and returns each step's status and event. */
function run(breaches: readonly boolean[], timing: StateTiming): string[] {
  let state: AlertInstance | undefined;
  return breaches.map((breached, i) => {
    const step = nextState(state, { breached, value: breached ? 1 : 0 }, timing, i * MIN);
    state = step.state;
    return step.transition ? `${step.state.status}!` : step.state.status;
  });
}

describe('alert state machine', () => {
  it('without `for`, fires at the first breach and resolves at the first clear evaluation', () => {
    expect(run([false, true, true, false, false], { forMs: 0, keepFiringForMs: 0 })).toEqual([
      'ok',
      'firing!',
      'firing',
      'resolved!',
      'ok',
    ]);
  });

  it('with `for: 2m`, stays pending until the breach has held two minutes', () => {
    expect(run([true, true, true, true, false], { forMs: 2 * MIN, keepFiringForMs: 0 })).toEqual([
      'pending',
      'pending',
      'firing!',
      'firing',
      'resolved!',
    ]);
  });

  it('a flapping signal shorter than `for` never fires (and sends nothing)', () => {
    const flapping = [true, false, true, false, true, true, false, true];
    expect(run(flapping, { forMs: 2 * MIN, keepFiringForMs: 0 })).toEqual([
      'pending',
      'ok',
      'pending',
      'ok',
      'pending',
      'pending',
      'ok',
      'pending',
    ]);
  });

  it('without keepFiringFor, a flapping firing alert resolves and fires again on every flip', () => {
    const steps = run([true, false, true, false], { forMs: 0, keepFiringForMs: 0 });
    expect(steps).toEqual(['firing!', 'resolved!', 'firing!', 'resolved!']);
  });

  it('keepFiringFor holds a firing alert through short gaps, then resolves once', () => {
    const steps = run([true, false, true, false, false, false, false], {
      forMs: 0,
      keepFiringForMs: 3 * MIN,
    });
    expect(steps).toEqual(['firing!', 'firing', 'firing', 'firing', 'firing', 'resolved!', 'ok']);
  });

  it('a resolved alert that breaches again waits for `for` anew', () => {
    const steps = run([true, true, false, true, true], { forMs: MIN, keepFiringForMs: 0 });
    expect(steps).toEqual(['pending', 'firing!', 'resolved!', 'pending', 'firing!']);
  });
});
