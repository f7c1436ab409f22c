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

import torch

K = 30.0     # constant channel that fixes the norm
B = 3.0      # offset that keeps the colour channels positive


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


def init_decoder(vae):
    d = vae.decoder
    T3 = (2, 1, 1)      # causal conv 3x3x3: current frame, centre
    T1 = (2, 0, 0)      # time_conv 3x1x1: current frame
    C2 = (1, 1)         # conv2d 3x3 centre
    z = vae.config.z_dim
    _route(vae.post_quant_conv, [(c, c, 1.0) for c in range(z)], (0, 0, 0))
    _zero_residuals(d)
    _route(d.conv_in, [(c, c, 1.0) for c in range(12)], T3, {**{c: B for c in range(12)}, 12: K})
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
