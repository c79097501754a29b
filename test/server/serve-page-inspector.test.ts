import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { FrameKind } from '../../src/live/frame-kind-ring.js';
import { tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';
import { chromiumMissing, fakeCameraClip, launchChromium } from '../browser/chromium.js';

const missing = chromiumMissing();

/** Runs in the page (as source text: the test build has no DOM types). */
function inPage<T>(page: Page, source: string): Promise<T> {
  return page.evaluate(source) as Promise<T>;
}

/** Pixels of a chart's plot area in a saturated colour: its series' lines, not the grey axes and text, nor the legend above. */
function colouredPixels(page: Page, id: string): Promise<number> {
  return inPage(
    page,
    `(() => {
      const c = document.getElementById(${JSON.stringify(id)});
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      const plotTop = 4 * c.width * Math.ceil(14 * devicePixelRatio);
      for (let i = plotTop; i < d.length; i += 4) if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 80) n++;
      return n;
    })()`,
  );
}

/**
 * The share of pixels that are not near black inside each element's box on
 * a full-page screenshot, decoded by the browser itself (no PNG decoder in
 * the test's dependencies).
 */
async function litShares(page: Page, png: Buffer, ids: string[]): Promise<Record<string, number>> {
  return inPage(
    page,
    `(async () => {
      const bytes = Uint8Array.from(atob(${JSON.stringify(png.toString('base64'))}), (c) => c.charCodeAt(0));
      const image = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(image.width, image.height);
      const g = canvas.getContext('2d');
      g.drawImage(image, 0, 0);
      const shares = {};
      for (const id of ${JSON.stringify(ids)}) {
        const r = document.getElementById(id).getBoundingClientRect();
        const x = Math.round(r.left + scrollX), y = Math.round(r.top + scrollY), w = Math.round(r.width), h = Math.round(r.height);
        const d = g.getImageData(x, y, w, h).data;
        let lit = 0;
        for (let i = 0; i < d.length; i += 4) if (0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2] > 40) lit++;
        shares[id] = lit / (w * h);
      }
      return shares;
    })()`,
  );
}

test("the server badges a stream's last output frames with their RTP timestamps; an unknown key is a 404", { skip: missing }, async (t) => {
  const { http, streams } = await startServer(t, { testPattern: 'test', testPatternKind: 'testsrc2' });
  await until('the test pattern to be live', 30_000, async () => ((await streams()).find((s) => s.key === 'test' && s.state === 'live') ? true : undefined));
  const { frames } = await until('some frames', 10_000, async () => {
    const list = (await (await fetch(`${http}/api/streams/test/frames`)).json()) as { clockRate: number; frames: FrameKind[] };
    return list.frames.length >= 20 ? list : undefined;
  });
  // Blend doubles 30 fps: every other frame is the original, the ones between are blend's.
  const badges = new Set(frames.map((f) => f.badge));
  assert.ok(badges.has('original') && badges.has('blend'), [...badges].join(', '));
  const steps = frames.slice(1).map((f, i) => ((f.rtp! - frames[i]!.rtp! + 2 ** 32) % 2 ** 32));
  assert.deepEqual([...new Set(steps)], [1500], 'one 60 fps frame apart on the 90 kHz clock');
  const missingKey = await fetch(`${http}/api/streams/nobody/frames`);
  assert.equal(missingKey.status, 404);
  assert.equal((await fetch(`${http}/api/streams/..%2f/frames`)).status, 404);
});

test('the page charts the last minute and its inspector steps through badged frames', { skip: missing }, async (t) => {
  const dir = tempDir(t);
  const { http, streams } = await startServer(t, { testPattern: 'test', testPatternKind: 'testsrc2' });
  await until('the test pattern to be live', 30_000, async () => ((await streams()).find((s) => s.key === 'test' && s.state === 'live') ? true : undefined));
  const browser = await launchChromium(fakeCameraClip(dir));
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(http);
  // Opened without a key, the page watches the only stream.
  await page.waitForFunction(`/^Watching “test” upconverted/.test(document.getElementById('status').textContent)`, undefined, { timeout: 20_000 });

  await page.click('#inspector-open');
  await until('frames captured by the inspector', 20_000, async () => ((await inPage<number>(page, 'window.frc.inspector.count')) >= 90 ? true : undefined));
  await until('a few seconds of charted stats', 15_000, async () => ((await inPage<number>(page, 'window.frc.charts.samples.length')) >= 4 ? true : undefined));
  for (const id of ['chart-fps', 'chart-latency', 'chart-slots']) {
    // Four samples a second apart are a line of some 15 px, 2 px thick, per series.
    assert.ok((await colouredPixels(page, id)) > 10, `${id} has no series drawn: ${JSON.stringify(await inPage(page, 'window.frc.charts.samples'))}`);
  }
  const rungs = await inPage<string[]>(page, 'window.frc.charts.rungs');
  assert.ok(rungs.includes('blend'), `rungs charted: ${rungs.join(', ')}`);

  await page.click('#inspector-pause');
  await page.waitForFunction(`!/asking the server/.test(document.getElementById('inspector-info').textContent)`, undefined, { timeout: 10_000 });
  const badges = await inPage<string[]>(page, 'window.frc.inspector.badges()');
  assert.ok(badges.length >= 60, `${badges.length} frames held`);
  const known = badges.filter((b) => b !== 'unknown');
  assert.ok(known.length >= badges.length * 0.8, `most frames are matched to the server's: ${badges.join(' ')}`);
  assert.ok(known.includes('original'), badges.join(' '));
  assert.ok(known.includes('blend'), badges.join(' '));

  // Paused on the newest frame: stepping back walks the frames one by one, each with its badge.
  const info = () => page.textContent('#inspector-info');
  assert.match((await info()) ?? '', new RegExp(`^frame ${badges.length} of ${badges.length}`));
  assert.equal(await page.isDisabled('#inspector-forward'), true);
  // A loaded machine's browser may show only every other frame for a while: step on until both kinds have shown. A rung named
  // as its badge (blend's) is shown once, not as "blend: blend".
  const seen = new Set<string>();
  let steps = 0;
  while (steps < 8 || (!(seen.has('original') && seen.has('blend')) && steps < badges.length - 1)) {
    steps++;
    await page.click('#inspector-back');
    assert.match((await info()) ?? '', new RegExp(`^frame ${badges.length - steps} of ${badges.length}`));
    const badge = (await page.textContent('#inspector-badge')) ?? '';
    assert.equal(badge.split(':')[0], badges[badges.length - 1 - steps]);
    seen.add(badge);
  }
  assert.ok(seen.has('original') && seen.has('blend'), [...seen].join(', '));
  await page.click('#inspector-forward');
  assert.match((await info()) ?? '', new RegExp(`^frame ${badges.length - steps + 1} of ${badges.length}`));

  // The motion overlay: testsrc2's band and counters move, so some blocks of a frame moved since the one before.
  await page.check('#inspector-motion');
  let moving = 0;
  for (let i = 0; i < 10 && moving === 0; i++) {
    moving = await inPage<number>(page, 'window.frc.inspector.motionDrawn');
    if (moving === 0) await page.click('#inspector-back');
  }
  assert.ok(moving > 0, 'no moving block found in ten frames');
  assert.match((await info()) ?? '', /\d+ moving blocks since the frame before/);

  // What a person would see: both videos and the paused frame have a picture, not black panels.
  const png = await page.screenshot({ fullPage: true });
  writeFileSync(join(dir, 'page.png'), png);
  const shares = await litShares(page, png, ['original', 'upconverted', 'inspector-view']);
  for (const [id, share] of Object.entries(shares)) assert.ok(share > 0.5, `${id}: only ${(share * 100).toFixed(0)} % of it is lit`);
  // The charts went on drawing behind the pause, and the badge shows on the page.
  assert.ok((await page.isVisible('#inspector-badge')) && (await page.textContent('#inspector-badge')) !== '');

  await page.click('#inspector-resume');
  assert.equal(await inPage<number>(page, 'window.frc.inspector.badges().length'), 0);
});
