import { errorMessage } from './errors.js';
import { Log } from 'node-av/lib';
import { AV_LOG_ERROR } from 'node-av/constants';

/**
 * FFmpeg explains failures in its log ("moov atom not found") and returns
 * only a bare code ("Invalid data found when processing input"). Keeping its
 * recent error lines lets our one-line errors name the actual problem, and
 * keeps FFmpeg's own chatter off the user's terminal.
 */
const recent: string[] = [];

let installed = false;

export function captureFfmpegLog(): void {
  if (installed) return;
  installed = true;
  Log.setLevel(AV_LOG_ERROR);
  Log.setCallback(
    (level, message) => {
      if (level > AV_LOG_ERROR) return;
      recent.push(message.trim());
      if (recent.length > 8) recent.shift();
    },
    { maxLevel: AV_LOG_ERROR },
  );
}

/** The FFmpeg error lines logged since the last call, joined; '' when none. */
export function takeFfmpegErrors(): string {
  const text = [...new Set(recent)].filter(Boolean).join('; ');
  recent.length = 0;
  return text;
}

/**
 * `error`'s message plus what FFmpeg logged about it. FFmpeg's log lines reach
 * JavaScript asynchronously, so this waits a moment for them (error paths only).
 */
export async function describeFfmpegError(error: unknown): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 10));
  const message = errorMessage(error);
  const detail = takeFfmpegErrors();
  return detail && !message.includes(detail) ? `${message} (${detail})` : message;
}
