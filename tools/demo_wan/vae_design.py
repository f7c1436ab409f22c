"""A starting point for the demo VAE's decoder that already inverts the designed
latent (data.design_latent) up to its 8x8 blocks, so that training only has to
sharpen it.

Every residual branch (the resnets' conv2, the mid-block attention's proj) starts
at zero, so each block passes its input through; the linear layers on the main
path (post_quant_conv, conv_in, the shortcut convs, the upsamplers' time_conv and
2D convs, conv_out) route channels:

  conv_in        latent ch 3j+c (frame j of the group, colour c) + B -> ch 3j+c;
                 a constant K -> ch 12
  up 0 time_conv frame A <- frames 0,1 (ch 0-5), frame B <- frames 2,3; K kept
                 (the first latent frame skips time_conv: its ch 0-5 already hold
                 frame 0)
  up 0 conv2d    ch 0-5, K -> ch 6
  up 1 shortcut  ch 0-6
  up 1 time_conv frame A <- ch 0-2, frame B <- ch 3-5; K kept
  up 1 conv2d    ch 0-2, K -> ch 3; up 2 conv2d the same
  norm_out       x / |x| * sqrt(8) * gamma: with K >> colour, |x| is almost
                 constant, and gamma puts the colour at 2 (c + B), where SiLU
                 is nearly the identity
  conv_out       0.5 * ch c - B
The causal 3D convolutions use only their current-frame, centre tap.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402

K = 30.0     # constant channel that fixes the norm
B = 3.0      # offset that keeps the colour channels positive
T3 = (2, 1, 1)      # causal conv 3x3x3: current frame, centre
T1 = (2, 0, 0)      # time_conv 3x1x1: current frame
C2 = (1, 1)         # conv2d 3x3 centre


def _route(conv, pairs, tap, bias=None):
    """conv.weight = 0 except weight[out, in, *tap] = w for (out, in, w) in pairs."""
    with torch.no_grad():
        conv.weight.zero_()
        for o, i, w in pairs:
            conv.weight[(o, i) + tuple(tap)] = w
        if conv.bias is not None:
            conv.bias.zero_()
            for o, v in (bias or {}).items():
                conv.bias[o] = v


def _zero_residuals(module):
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanAttentionBlock, WanResidualBlock
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, WanResidualBlock):
                m.conv2.weight.zero_()
                m.conv2.bias.zero_()
            elif isinstance(m, WanAttentionBlock):
                m.proj.weight.zero_()
                m.proj.bias.zero_()


# main-path channels at the latent's resolution in init_decoder_static
FRAME0, F_CH, K_CH, E_CH, DPOS, DNEG, DIR_CH = 0, 3, 12, 13, 22, 25, 28
SHIFTS = (-1, 0, 1)          # shifts of the shape, in latent cells, that the gate branch makes
M_GATE = 12.0                # the direction gate's swing (SiLU input +-6 around the shape)
K2 = 60.0                    # constant in the gate branch that fixes norm2


def offset_cells(frame, frames):
    """Where data.render (static latent: 1 px a frame, 8 px a cell) has the shape in
    `frame`, in latent cells from the mid frame."""
    return (frame - (frames - 1) // 2) / 8.0


def blend(o):
    """The shape at a fractional offset o in [-1, 1] cells as weights of the shifts
    in SHIFTS: linear interpolation between the two nearest whole shifts."""
    w = {-1: 0.0, 0: 0.0, 1: 0.0}
    lo = min(math.floor(o), 0)
    w[lo] += lo + 1 - o
    w[lo + 1] += o - lo
    return [w[m] for m in SHIFTS]


def _silu(x):
    return x / (1 + math.exp(-x))


def init_decoder_static(vae, frames=17):
    """A decoder that already draws data.design_static's latent as a moving clip, in
    8x8 blocks, before any training.

    The shape is the mid frame minus the background (D = mid - bg, latent channels
    3-5 minus 0-2), and it has to move along the direction whose one-hot field
    (channels 6-9) is on, by an amount that depends on the frame. Two problems:

    Which direction. The mid block's first residual branch gates the shape by each
    direction: conv_in puts +D, -D and the four direction fields on the main path;
    norm1 (dominated by the constant K, so nearly a fixed scale) and SiLU, then
    SiLU(D) - SiLU(-D) = D exactly; conv1 makes, per direction d and colour,
    P = D + g_d and N = -D + g_d with g_d = +-M/2 from the field; after norm2 (fixed
    by the constant K2) and SiLU, SiLU(P) - SiLU(N) is about 2 D where the field is
    on and about 0 where it is off.

    Which frame. The latent is the same in every latent frame k, but the decoder's
    convolutions are causal and zero-padded in front. conv2 of that branch (taps
    t-2, t-1, t) writes the gated shape shifted by m cells along d (m in SHIFTS) in
    three versions: G (m = -1 only: tap t minus tap t-1, so only latent frame 0 has
    it, added to the frame-0 slot), F (tap t-1 minus tap t-2: only latent frame 1)
    and E (tap t-2: latent frames 2 on). Latent frame 0 skips the upsamplers'
    time_conv, so its ch 0-2 (background + G) is frame 0. For k >= 1, up 0's time_conv
    (taps k-2, k-1, k, zero-padded before latent frame 1) sees F only at latent frame
    1 and E from 2 on, so with weights
      tap k on F = c1, tap k on E = c2, tap k-1 on E = c3 - c2, tap k-2 on E = c4 - c3
    it puts out exactly c_k, the shifts' weights that place the shape where each of
    latent frame k's four frames has it (blend()), in the four frame slots that the
    rest of the decoder routes to the output. Every other residual branch starts at
    zero; training sharpens the 8x8 blocks."""
    z = vae.config.z_dim
    d = vae.decoder
    dirs = list(data.DIRECTIONS.values())

    def shift_tap(m, dx, dy):
        return (1 - m * dy, 1 - m * dx)       # the 3x3 tap that moves content by m cells along (dx, dy)

    _route(vae.post_quant_conv, [(c, c, 1.0) for c in range(z)], (0, 0, 0))
    _zero_residuals(d)
    pairs = [(FRAME0 + c, data.ST_BG + c, 1.0) for c in range(3)]
    for c in range(3):
        pairs += [(DPOS + c, data.ST_MID + c, 1.0), (DPOS + c, data.ST_BG + c, -1.0),
                  (DNEG + c, data.ST_MID + c, -1.0), (DNEG + c, data.ST_BG + c, 1.0)]
    pairs += [(DIR_CH + i, data.ST_DIR + i, 1.0) for i in range(4)]
    _route(d.conv_in, pairs, T3, {**{FRAME0 + c: B for c in range(3)}, K_CH: K})
    _route_upsamplers(vae)

    r = d.mid_block.resnets[0]
    n1 = r.norm1.gamma.shape[0]
    x_nom = math.sqrt(K * K + 3 * B * B + 4)     # |x| into norm1: K, the background at B, the direction fields
    dir_on, dir_off = _silu(1.0), _silu(-1.0)
    with torch.no_grad():
        r.norm1.gamma.fill_(x_nom / math.sqrt(n1))      # every channel back at its own scale
        w1 = r.conv1.weight                              # [out, in, t, y, x]
        w1.zero_()
        r.conv1.bias.zero_()
        n2 = w1.shape[0]
        kc = n2 - 1
        r.conv1.bias[kc] = K2
        for di in range(4):
            for c in range(3):
                for o, sign in ((2 * (3 * di + c), 1.0), (2 * (3 * di + c) + 1, -1.0)):
                    w1[o, DPOS + c, 2, 1, 1] = sign
                    w1[o, DNEG + c, 2, 1, 1] = -sign
                    w1[o, DIR_CH + di, 2, 1, 1] = M_GATE / (dir_on - dir_off)
                    r.conv1.bias[o] = -M_GATE * (dir_on + dir_off) / 2 / (dir_on - dir_off)
        h_nom = math.sqrt(K2 * K2 + 24 * (M_GATE / 2) ** 2)
        r.norm2.gamma.fill_(h_nom / math.sqrt(n2))
        gain = 2 * (_silu(M_GATE / 2 + 1e-3) - _silu(M_GATE / 2 - 1e-3)) / 2e-3   # d(SiLU(g+D) - SiLU(g-D))/dD
        w2 = r.conv2.weight
        w2.zero_()
        r.conv2.bias.zero_()
        for di, (dx, dy) in enumerate(dirs):
            for c in range(3):
                src_p, src_n = 2 * (3 * di + c), 2 * (3 * di + c) + 1
                for src, sign in ((src_p, 1.0 / gain), (src_n, -1.0 / gain)):
                    ty, tx = shift_tap(-1, dx, dy)
                    w2[FRAME0 + c, src, 2, ty, tx] += sign      # G: latent frame 0 only
                    w2[FRAME0 + c, src, 1, ty, tx] -= sign
                    for mi, m in enumerate(SHIFTS):
                        ty, tx = shift_tap(m, dx, dy)
                        w2[F_CH + 3 * mi + c, src, 1, ty, tx] += sign   # F: latent frame 1 only
                        w2[F_CH + 3 * mi + c, src, 0, ty, tx] -= sign
                        w2[E_CH + 3 * mi + c, src, 0, ty, tx] += sign   # E: latent frames 2 on

    # up 0's time_conv, which _route_upsamplers set to pass frame slots through, does the timing
    tc = d.up_blocks[0].upsamplers[0].time_conv
    c0 = tc.weight.shape[1]
    groups = data.latent_groups(frames)
    cw = {k: [blend(offset_cells(f, frames)) for f in groups[k]] for k in range(1, 5)}
    with torch.no_grad():
        tc.weight.zero_()
        tc.bias.zero_()
        for half, base in ((0, 0), (1, c0)):          # frame A: slots 0, 1; frame B: slots 2, 3
            tc.weight[base + K_CH, K_CH, 2, 0, 0] = 1.0
            for sl in range(2):
                slot = 2 * half + sl
                for c in range(3):
                    o = base + 3 * sl + c
                    tc.weight[o, FRAME0 + c, 2, 0, 0] = 1.0      # the background (+B): G is 0 after frame 0
                    for mi in range(len(SHIFTS)):
                        c1, c2, c3, c4 = (cw[k][slot][mi] for k in (1, 2, 3, 4))
                        tc.weight[o, F_CH + 3 * mi + c, 2, 0, 0] = c1
                        tc.weight[o, E_CH + 3 * mi + c, 2, 0, 0] = c2
                        tc.weight[o, E_CH + 3 * mi + c, 1, 0, 0] = c3 - c2
                        tc.weight[o, E_CH + 3 * mi + c, 0, 0, 0] = c4 - c3


def init_decoder(vae):
    d = vae.decoder
    z = vae.config.z_dim
    _route(vae.post_quant_conv, [(c, c, 1.0) for c in range(z)], (0, 0, 0))
    _zero_residuals(d)
    _route(d.conv_in, [(c, c, 1.0) for c in range(12)], T3, {**{c: B for c in range(12)}, 12: K})
    _route_upsamplers(vae)


def _route_upsamplers(vae):
    """Everything after conv_in (see the module's docstring)."""
    d = vae.decoder
    up = d.up_blocks
    c0 = up[0].upsamplers[0].time_conv.weight.shape[1]            # channels into up 0's time_conv
    _route(up[0].upsamplers[0].time_conv,
           [(c, c, 1.0) for c in range(6)] + [(12, 12, 1.0)] +
           [(c0 + c, 6 + c, 1.0) for c in range(6)] + [(c0 + 12, 12, 1.0)], T1)
    _route(up[0].upsamplers[0].resample[1], [(c, c, 1.0) for c in range(6)] + [(6, 12, 1.0)], C2)
    _route(up[1].resnets[0].conv_shortcut, [(c, c, 1.0) for c in range(7)], (0, 0, 0))
    c1 = up[1].upsamplers[0].time_conv.weight.shape[1]
    _route(up[1].upsamplers[0].time_conv,
           [(c, c, 1.0) for c in range(3)] + [(6, 6, 1.0)] +
           [(c1 + c, 3 + c, 1.0) for c in range(3)] + [(c1 + 6, 6, 1.0)], T1)
    _route(up[1].upsamplers[0].resample[1], [(c, c, 1.0) for c in range(3)] + [(3, 6, 1.0)], C2)
    _route(up[2].upsamplers[0].resample[1], [(c, c, 1.0) for c in range(4)], C2)
    n = d.norm_out.gamma.shape[0]
    g = 2 * math.sqrt(K * K + 3 * B * B) / math.sqrt(n)
    with torch.no_grad():
        d.norm_out.gamma.zero_()
        d.norm_out.gamma[:3] = g
    _route(d.conv_out, [(c, c, 0.5) for c in range(3)], T3, {c: -B for c in range(3)})
