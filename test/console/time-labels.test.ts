import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeLabel, timeLabelKind, timeTickSpace } from '../../console/src/lib/time-labels.js';
import { CHROMIUM, hasChromium, launchChromium } from './browser-support.js';

/** The part of the browser's document the measurement uses. */
interface PageDocument {
  createElement(tag: 'canvas'): {
    getContext(kind: '2d'): { font: string; measureText(text: string): { width: number } };
  };
}

const AT = Date.parse('2026-12-07T09:05:07Z') / 1000;
const MINUTE = 60;
const DAY = 86_400;

describe('time-axis labels', () => {
  it('show seconds on an axis under 10 minutes, minutes up to 2 days, the date beyond, in UTC', () => {
    expect(timeLabel(AT, 5 * MINUTE)).toBe('09:05:07');
    expect(timeLabel(AT, 10 * MINUTE)).toBe('09:05');
    expect(timeLabel(AT, 2 * DAY)).toBe('09:05');
    expect(timeLabel(AT, 2 * DAY + 1)).toBe('12-07 09:05');
    expect([59, 3_600, 30 * DAY].map(timeLabelKind)).toEqual(['seconds', 'minutes', 'date']);
  });

  describe.skipIf(!hasChromium)(`measured in a browser (needs ${CHROMIUM})`, () => {
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    beforeAll(async () => {
      browser = await launchChromium();
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    it('leave room between neighbours: the widest label of each kind is narrower than the tick spacing', async () => {
      const page = await browser.newPage();
      // uPlot's default axis font (uPlot.esm.js), which the console's charts keep.
      const font =
        '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif, "Apple Color Emoji", "Segoe UI Emoji", "Segoe UI Symbol", "Noto Color Emoji"';
      for (const span of [MINUTE, 5 * MINUTE, 6 * 3_600, 7 * DAY]) {
        // Every hour, minute and second digit that can occur, at one instant per minute of a day.
        const labels = Array.from({ length: 24 * 60 }, (_, m) => timeLabel(AT + m * 61, span));
        const widest = await page.evaluate(
          ({ font, labels }) => {
            // The page's DOM (this project's TypeScript has no DOM types outside console/).
            const { document } = globalThis as unknown as { document: PageDocument };
            const ctx = document.createElement('canvas').getContext('2d');
            ctx.font = font;
            return Math.max(...labels.map((l) => ctx.measureText(l).width));
          },
          { font, labels },
        );
        expect(widest + 8, `${timeLabelKind(span)} labels`).toBeLessThanOrEqual(timeTickSpace(span));
      }
      await page.close();
    });
  });
});
