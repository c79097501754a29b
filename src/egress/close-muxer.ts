import type { Muxer } from 'node-av/api';

/**
 * Writes the trailer and closes the muxer's output, for real. node-av's
 * `close()` detaches its IO from the format context before closing it, and
 * that close then did nothing: the file or socket stayed open until the
 * process exited (measured: one descriptor per closed file output, and an
 * RTMP push's socket its target never saw end). Left attached, the IO is
 * closed as the format context is freed. `test/egress/file-sink.test.ts`
 * fails if node-av's field is renamed (the descriptors leak again).
 */
export async function closeMuxer(muxer: Muxer): Promise<void> {
  const internals = muxer as unknown as { ioContext?: unknown };
  internals.ioContext = undefined;
  await muxer.close();
}
