/**
 * The flags every frc process is started with (`bin/frc`'s shebang,
 * `npm start`, the container's entrypoint, the benchmarks' servers).
 *
 * `--initial-old-space-size=64`: V8 sizes its old generation from the live
 * JavaScript heap, which is small here (about 10 MB: the pixels live in
 * native memory), while every decoded or synthesized frame whose planes are
 * seen from JavaScript counts its megabytes as external memory. With the
 * default limit V8 started a major collection every few in-between frames,
 * about a fifth of a 720p in-between frame's CPU; with this one, a few per
 * minute (bench/synthesis.ts: the same call with and without, see
 * bench/RESULTS.md). It only raises the first limit: the heap still grows
 * and shrinks with what is live.
 *
 * V8 reads it only at start, and Node refuses it in NODE_OPTIONS, so it
 * travels on the command line; test/base/node-flags.test.ts checks that
 * each launcher carries it.
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** The flags of `NODE_FLAGS` this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
