/**
 * libx264 presets the live output may use, fastest first. At 720p 60 fps
 * `veryfast` (the default) takes about one core of a 2-core machine by
 * itself; `ultrafast` a fraction of that, for more bits at the same quality
 * (bench/RESULTS.md). Its own module so that the configuration schema can
 * list them without loading the encoder.
 */
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'] as const;
export type X264Preset = (typeof X264_PRESETS)[number];

/**
 * What a setting may say: a preset, or `auto`, chosen per stream from the
 * output's size and rate and the machine's idle cores (encoder-sizing.ts).
 */
export const ENCODER_PRESET_SETTINGS = ['auto', ...X264_PRESETS] as const;
export type EncoderPresetSetting = (typeof ENCODER_PRESET_SETTINGS)[number];
