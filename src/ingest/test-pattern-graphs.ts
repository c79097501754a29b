/**
 * The built-in test patterns as FFmpeg lavfi filter graphs. Its own module,
 * with no FFmpeg import, so that the configuration schema can list the kinds
 * without loading node-av.
 *
 * - `motion` (the default): 1280x720 content that moves the way video does,
 *   so a first look at the server shows what interpolation is for: a
 *   detailed background pans smoothly, and two objects move over it on their
 *   own paths, covering and uncovering it and each other.
 * - `testsrc2`: FFmpeg's `testsrc2` test card at 480x270, small and cheap.
 */
export const TEST_PATTERN_KINDS = ['motion', 'testsrc2'] as const;
export type TestPatternKind = (typeof TEST_PATTERN_KINDS)[number];

export interface TestPatternSize {
  width: number;
  height: number;
  fps: number;
}

/** Each kind's size and rate unless asked otherwise. */
export const TEST_PATTERN_DEFAULTS: Record<TestPatternKind, TestPatternSize> = {
  motion: { width: 1280, height: 720, fps: 30 },
  testsrc2: { width: 480, height: 270, fps: 30 },
};

/** What each kind is called in logs and stats (the source's `videoCodec`, `/api/streams`' `codec`). */
export const TEST_PATTERN_LABELS: Record<TestPatternKind, string> = {
  motion: 'lavfi motion pattern',
  testsrc2: 'testsrc2',
};

/** The lavfi graph of `kind`, unpaced: the live source appends `realtime`. */
export function testPatternGraph(kind: TestPatternKind, { width, height, fps }: TestPatternSize): string {
  return kind === 'motion' ? motionGraph(width, height, fps) : `testsrc2=size=${width}x${height}:rate=${fps}`;
}

/** Rounded down to an even number: yuv420p sizes and offsets. */
const even = (n: number) => 2 * Math.floor(n / 2);

/**
 * A still rendered once and moved every frame: drawing the fractal takes
 * about a second of CPU, moving it 1 to 2 ms per 720p frame, and
 * the interpolator needs the cores. Motion comes from filters that only
 * offset or copy pixels (`crop`, `overlay`), with positions as expressions
 * of the time `t`:
 *
 * - the background, a Mandelbrot detail (fine spirals beside smooth colour,
 *   like a scene's texture and sky) half as large again as the frame, which
 *   a frame-sized window pans across on two sines of different periods;
 * - FFmpeg's `testsrc2` card (a clock and a frame counter) circling on an
 *   ellipse;
 * - a textured disc sweeping left and right in front of both, faster, so it
 *   covers the card and the background (occlusion, the hard case).
 *
 * Each still is looped (`loop`) and renumbered (`setpts`) into a frame per
 * interval, rounded: `N/30/TB` alone truncates 122.99… to 122 and repeated a
 * timestamp (and a frame) every 4 s. `crop`'s `exact` lets the pan move by
 * single pixels rather than the chroma's two.
 */
function motionGraph(width: number, height: number, fps: number): string {
  const still = (format: string) => `trim=end_frame=1,format=${format},loop=loop=-1:size=1,setpts='round(N/(${fps}*TB))'`;
  const stillWidth = even(width * 1.5);
  const stillHeight = even(height * 1.5);
  const card = `${even(width / 4)}x${even(height / 4)}`;
  const disc = even((height * 2) / 9);
  const background =
    `mandelbrot=size=${stillWidth}x${stillHeight}:rate=${fps}:maxiter=256:start_scale=0.01:outer=normalized_iteration_count,${still('yuv420p')},` +
    `crop=w=${width}:h=${height}:exact=1:x='(in_w-out_w)/2*(1+0.94*sin(2*PI*t/9))':y='(in_h-out_h)/2*(1+0.94*sin(2*PI*t/6.5))'`;
  const discStill =
    `color=c=black:size=${disc}x${disc}:rate=${fps},format=yuva420p,` +
    `geq=lum='128+100*sin(X/6)*sin(Y/9)':cb=80:cr=200:a='255*lt(hypot(X-(W-1)/2,Y-(H-1)/2),W/2)',${still('yuva420p')}`;
  return [
    `${background}[background]`,
    `${discStill}[disc]`,
    `testsrc2=size=${card}:rate=${fps}[card]`,
    // An ellipse around the centre, once every 8 s.
    `[background][card]overlay=x='(W-w)/2+0.36*W*cos(2*PI*t/8)':y='(H-h)/2+0.28*H*sin(2*PI*t/8)'[carded]`,
    // Edge to edge and back every 5 s (a triangle wave), bobbing as it goes.
    `[carded][disc]overlay=x='(W-w)/2*(1+0.95*(4*abs(mod(t/5,1)-0.5)-1))':y='(H-h)/2+0.08*H*sin(2*PI*t/2.5)'`,
  ].join(';');
}
