import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { ffmpeg, FOOTAGE } from '../helpers.js';

/** Shared by the browser tests: Debian's headless Chromium with a fake camera playing a real clip. */

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (scripts/setup.sh installs Debian's chromium package)`;
}

/** A 320x240, 30 fps Y4M of real footage for the fake camera (Chromium loops it). */
export function fakeCameraClip(dir: string): string {
  const y4m = join(dir, 'camera.y4m');
  ffmpeg('-i', join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'), '-vf', 'scale=320:240,fps=30', '-pix_fmt', 'yuv420p', '-an', y4m);
  return y4m;
}

export async function launchChromium(cameraClip: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${cameraClip}`,
      // Without it Chromium gathers no ICE candidate on a loopback-only server.
      '--allow-loopback-in-peer-connection',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // Hidden pages must keep rendering and decoding at full rate.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
}
