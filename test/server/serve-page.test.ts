import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';
import { chromiumMissing, fakeCameraClip, launchChromium } from '../browser/chromium.js';

const missing = chromiumMissing();

/** The page's upconverted viewer (or its viewer of the original): frames decoded so far (0 while it has none). */
async function framesDecoded(page: import('playwright-core').Page, peer: 'viewer' | 'original' = 'viewer'): Promise<number> {
  // Runs in the page (as source text: the test build has no DOM types).
  return page.evaluate(`(async () => {
    let frames = 0;
    if (!window.frc.${peer}) return 0;
    (await window.frc.${peer}.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded ?? 0;
    });
    return frames;
  })()`);
}

test('the page opened without a key watches the only live stream; with a key it waits for the user', { skip: missing }, async (t) => {
  const { http, streams } = await startServer(t, { testPattern: 'test' });
  await until('the test pattern to be live', 30_000, async () => ((await streams()).find((s) => s.key === 'test' && s.state === 'live') ? true : undefined));
  const browser = await launchChromium(fakeCameraClip(tempDir(t)));
  t.after(() => browser.close());

  const page = await browser.newPage();
  await page.goto(http);
  await page.waitForFunction(`/^Watching “test” upconverted/.test(document.getElementById('status').textContent)`, undefined, { timeout: 20_000 });
  assert.equal(await page.inputValue('#key'), 'test');
  await until('decoded frames of the only stream', 15_000, async () => ((await framesDecoded(page)) > 10 ? true : undefined));
  // The test pattern has no codec WebRTC could relay: its original is encoded for the page, which plays it beside.
  await until('decoded frames of the original', 15_000, async () => ((await framesDecoded(page, 'original')) > 10 ? true : undefined));
  assert.doesNotMatch(await page.textContent('#status') ?? '', /not available/);
  // Watching on its own starts muted (browsers play sound only after a gesture).
  assert.equal(await page.evaluate(`document.getElementById('upconverted').muted`), true);

  // A key in the address is the user's choice: the page keeps it and does not watch by itself.
  const chosen = await browser.newPage();
  await chosen.goto(`${http}/?key=cam`);
  await new Promise((resolve) => setTimeout(resolve, 2500)); // two stats messages
  assert.equal(await chosen.inputValue('#key'), 'cam');
  assert.equal(await chosen.evaluate('window.frc.viewer'), null);
});
