"""The validation split: whole footage clips held out of all training (train/README.md, "Validation protocol").

Settings and checkpoints are chosen on triplets cut from these clips (train/cut_validation.py), never on
triplets from clips that train. Every name is a file in ../shared/data/footage without its extension, as
prep_data.py names the clip's cache folder. Fixed before any score on them was read (2026-12-07); changing
the list starts a new protocol, and the old scores stop being comparable.
"""

# Content type -> clips. All are among the 16 clips added after the shipped models' training, so that
# the current models have never seen them either (the shipped weights trained on the first seven clips).
VALIDATION = {
    'camera': ['incar_street_handheld_600p30_gyrostab',   # handheld phone in a car: shake, buses, pedestrians
               'dashcam_highway_540p25_udacity'],         # forward camera motion, passing cars
    'objects': ['asl_signing_hands_480p30_intelsv',       # hands and arms crossing the body: occlusion, blur
                'parkinglot_cars_topdown_432p12_intelsv'],  # cars driving through a static view, 12.5 fps
    'animation': ['caminandes_llama_3d_360p24_zwm'],      # 3D animation (Blender open movie)
    'screen': ['code_editor_scroll_synthetic_720p60_synth',  # code page scrolled with flings, up to 72 px per frame
               'terminal_pkgmgr_progress_600p50_vhs'],    # terminal UI: progress bar, lines scrolling up
    'game': ['doom_freedoom1_e2m3_720p60_freedoom',       # retro FPS, HUD, monsters
             'nexuiz_silvercity_fps_540p60_nexuiz'],      # 3D FPS fly-through and gameplay, overlays
}

# The development split (2026-12-07, fourth stop): the seven clips that neither trained the shipped weights
# (their cards' licence_of_data lists those seven) nor are in VALIDATION. A place to try engine-side ideas
# without reading VALIDATION again for each try; a choice made on it is then checked once on VALIDATION. Unlike
# VALIDATION these clips may train later models: the split is unseen only by models that did not train on them.
DEVELOPMENT = {
    'game': ['doom_freedoom2_map15_720p60_freedoom'],      # retro FPS, another map: turning, strafing, HUD
    'screen': ['gnome_ui_animation_launchapps_480p24_gsdocs', 'gnome_ui_animation_taskswitch_480p24_gsdocs',
               'terminal_glow_tui_1040p50_vhs'],           # desktop UI animations; a terminal UI
    'film': ['tearsofsteel_battle_332p24_mdn'],            # film battle scene: camera motion, effects
    'nature': ['stream_water_360p30_mdn', 'flower_timelapse_540p30_mdn'],  # water; a time-lapse
}

# Triplets cut per clip: sets of one clip get more, so that every set has 12-16.
TRIPLETS_PER_CLIP = 8
TRIPLETS_SINGLE_CLIP_SET = 12

HELD_OUT = frozenset(c for clips in VALIDATION.values() for c in clips)


def is_held_out(name):
    """True for a clip that must never be trained on (name: the footage file without its extension)."""
    return name in HELD_OUT
