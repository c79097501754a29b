/**
 * libx264 presets the live output may use, fastest first. At 720p 60 fps
 * `veryfast` (the default) takes about one core of a 2-core machine by
 * itself; `ultrafast` a fraction of that, for more bits at the same quality
 * (bench/RESULTS.md). Its own module so that the configuration schema can
 * list them without loading the encoder.
 */
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'] as const;
export type X264Preset = (typeof X264_PRESETS)[number];
