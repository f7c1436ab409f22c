"""Procedural clips for the demo model: one coloured shape (circle, square,
triangle) moving left/right/up/down over a flat coloured background, with the
caption "a {colour} {shape} moving {direction} on a {background} background".

Everything is generated on the fly from a numpy Generator, so a seed fixes the
data. Frames are float32 RGB in [0, 1], laid out [T, H, W, 3].

The latent space of the demo VAE is fixed by design (see `design_latent`): the
decoder is trained to invert it and the encoder to produce it.
"""
import numpy as np

# colour name -> RGB in [0, 1]; the C test (tests/models/test_demo_wan.c) keeps the same table
COLOURS = {
    "red": (0.90, 0.12, 0.12),
    "green": (0.15, 0.72, 0.20),
    "blue": (0.15, 0.25, 0.90),
    "yellow": (0.92, 0.85, 0.15),
    "white": (0.92, 0.92, 0.92),
    "purple": (0.58, 0.20, 0.72),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}

# (colour, shape, direction, background) combinations never shown in training.
# The first two are the README's prompts; the rest cover every colour and direction.
HELD_OUT = (
    ("red", "circle", "right", "blue"),
    ("yellow", "square", "left", "green"),
    ("white", "triangle", "up", "purple"),
    ("purple", "circle", "down", "yellow"),
    ("green", "triangle", "right", "white"),
    ("blue", "square", "up", "red"),
    ("red", "triangle", "down", "white"),
    ("yellow", "circle", "up", "blue"),
    ("white", "square", "down", "green"),
    ("purple", "triangle", "left", "red"),
    ("green", "circle", "left", "purple"),
    ("blue", "circle", "left", "yellow"),
)


def caption(colour, shape, direction, background):
    return "a %s %s moving %s on a %s background" % (colour, shape, direction, background)


def all_combos():
    out = []
    for c in COLOURS:
        for s in SHAPES:
            for d in DIRECTIONS:
                for b in COLOURS:
                    if b != c:
                        out.append((c, s, d, b))
    return out


def training_combos():
    held = set(HELD_OUT)
    return [k for k in all_combos() if k not in held]


def _mask(shape, cx, cy, r, H, W, ss=4):
    """Anti-aliased coverage [H, W] of a shape centred at (cx, cy) with half-size r
    (supersampled ss x ss per pixel)."""
    o = (np.arange(ss) + 0.5) / ss
    ys = (np.arange(H)[:, None] + o[None, :]).reshape(-1)[:, None]
    xs = (np.arange(W)[:, None] + o[None, :]).reshape(-1)[None, :]
    dx, dy = xs - cx, ys - cy
    if shape == "circle":
        m = dx * dx + dy * dy <= r * r
    elif shape == "square":
        a = r * 0.85
        m = (np.abs(dx) <= a) & (np.abs(dy) <= a)
    else:  # triangle, apex up
        h = 1.8 * r
        top, bot = -0.6 * h, 0.4 * h
        frac = (dy - top) / (bot - top)
        m = (dy >= top) & (dy <= bot) & (np.abs(dx) <= frac * r * 1.1)
    return m.reshape(H, ss, W, ss).mean(axis=(1, 3)).astype(np.float32)


# Where a clip's path lies: "middle" (through the middle of the frame, the shipped
# model's data) or "anywhere" (train.py --dit-path).
PATH = "middle"

# The latent layout (see design_latent and design_static): "moving" (each latent
# frame holds its own frames) or "static" (every latent frame the same: the middle
# frame's layout, the background and the direction; the decoder draws the motion).
LATENT = "static"


def render(rng, combo, T=17, H=64, W=64):
    """One clip [T, H, W, 3] for combo (colour, shape, direction, background):
    random size (half-size 16-20% of the frame), speed and a little jitter of the
    start and the perpendicular position."""
    colour, shape, direction, background = combo
    fg = np.array(COLOURS[colour], np.float32)
    bg = np.array(COLOURS[background], np.float32)
    r = rng.uniform(0.16, 0.20) * min(H, W)
    ux, uy = DIRECTIONS[direction]
    along = W if ux else H
    across = H if ux else W
    # a path of about half the frame through the middle, a few pixels of jitter: what
    # varies between clips of one caption is small, so a lightly trained model's
    # average guess is already the right video
    if PATH == "anywhere":
        # a path of a third of the frame starting anywhere it stays inside: where the
        # shape is says nothing of the caption, only how it moves from frame to frame,
        # which is what a transformer with relative positions only (RoPE) can express
        travel = rng.uniform(0.30, 0.40) * along
        start = rng.uniform(r, along - r - travel)
        perp = rng.uniform(r, across - r)
    elif LATENT == "static":
        # the static latent holds no speed: every clip moves 1 px a frame (a quarter of
        # the frame in 17 frames), which its decoder's designed start draws exactly
        travel = 0.25 * along
        start = along / 2 - travel / 2 + rng.uniform(-0.05, 0.05) * along
        perp = across / 2 + rng.uniform(-0.06, 0.06) * across
    else:
        travel = rng.uniform(0.45, 0.55) * along           # distance covered over the clip
        start = along / 2 - travel / 2 + rng.uniform(-0.05, 0.05) * along
        perp = across / 2 + rng.uniform(-0.06, 0.06) * across
    clip = np.empty((T, H, W, 3), np.float32)
    for t in range(T):
        p = start + travel * t / (T - 1)
        pos = p if (ux > 0 or uy > 0) else along - p
        cx, cy = (pos, perp) if ux else (perp, pos)
        m = _mask(shape, cx, cy, r, H, W)[..., None]
        clip[t] = bg * (1 - m) + fg * m
    return clip


def latent_groups(T):
    """Wan's causal grouping: latent frame 0 <- frame 0, latent k <- frames 4k-3..4k."""
    assert (T - 1) % 4 == 0
    groups = [[0, 0, 0, 0]]
    for k in range(1, (T - 1) // 4 + 1):
        groups.append([4 * k - 3, 4 * k - 2, 4 * k - 1, 4 * k])
    return groups


def design_latent(clip):
    """The demo VAE's latent for clip [T, H, W, 3] -> [16, 1 + (T-1)/4, H/8, W/8]:
    channels 3j..3j+2 are the 8x8-average RGB of the j-th frame of the latent frame's
    group of four, channels 12..15 the mean grey of the four 4x4 quadrants of each
    8x8 cell in the group's last frame; all mapped from [0, 1] to [-1, 1]."""
    T, H, W, _ = clip.shape
    h, w = H // 8, W // 8
    pooled = clip.reshape(T, h, 8, w, 8, 3).mean(axis=(2, 4))            # [T, h, w, 3]
    grey = clip.mean(axis=3).reshape(T, h, 2, 4, w, 2, 4).mean(axis=(3, 6))  # [T, h, 2, w, 2]
    groups = latent_groups(T)
    z = np.empty((16, len(groups), h, w), np.float32)
    for k, g in enumerate(groups):
        for j, f in enumerate(g):
            z[3 * j:3 * j + 3, k] = pooled[f].transpose(2, 0, 1)
        q = grey[g[-1]]                                                 # [h, 2, w, 2]
        z[12:16, k] = q.transpose(1, 3, 0, 2).reshape(4, h, w)
    return z * 2 - 1


# channels of the static latent
ST_BG, ST_MID, ST_DIR, ST_COVER, ST_QUAD, ST_ONE = 0, 3, 6, 10, 11, 15


def design_static(combo, clip):
    """The static latent of clip [T, H, W, 3] of combo -> [16, 1 + (T-1)/4, H/8, W/8],
    every latent frame the same: channels 0-2 the background RGB (a flat field), 3-5
    the 8x8-average RGB of the mid frame, 6-9 the direction one-hot (right, left,
    down, up; flat fields), 10 the mid frame's shape coverage of each 8x8 cell and
    11-14 that of its four 4x4 quadrants, 15 a constant; all mapped from [0, 1] to
    [-1, 1].
    Nothing in it depends on time, so a transformer with relative positions only can
    make it from noise: a still layout and a few flat fields, chosen by the words.
    The decoder, causal in time, knows the frame (by how far back its zero padding
    lies) and draws the shape where it is then (vae_design.init_decoder_static).
    The speed is fixed: 1 px a frame."""
    colour, _, direction, background = combo
    T, H, W, _ = clip.shape
    h, w = H // 8, W // 8
    F = 1 + (T - 1) // 4
    mid = clip[(T - 1) // 2]
    bg = np.array(COLOURS[background], np.float32)
    m = np.abs(mid - bg).max(axis=2) / max(np.abs(np.array(COLOURS[colour], np.float32) - bg).max(), 1e-6)
    z = np.empty((16, h, w), np.float32)
    z[ST_BG:ST_BG + 3] = bg[:, None, None]
    z[ST_MID:ST_MID + 3] = mid.reshape(h, 8, w, 8, 3).mean(axis=(1, 3)).transpose(2, 0, 1)
    for i, d in enumerate(DIRECTIONS):
        z[ST_DIR + i] = 1.0 if d == direction else 0.0
    z[ST_COVER] = m.reshape(h, 8, w, 8).mean(axis=(1, 3))
    z[ST_QUAD:ST_QUAD + 4] = m.reshape(h, 2, 4, w, 2, 4).mean(axis=(2, 5)).transpose(1, 3, 0, 2).reshape(4, h, w)
    z[ST_ONE] = 1.0
    z = z * 2 - 1
    return np.ascontiguousarray(np.broadcast_to(z[:, None], (16, F, h, w)))


def clip_and_latent(rng, combo, T=17):
    """(clip [T, H, W, 3], its designed latent) in the layout LATENT names."""
    clip = render(rng, combo, T=T)
    return clip, design_static(combo, clip) if LATENT == "static" else design_latent(clip)
