#!/usr/bin/env python3
"""Writes the safetensors corpus: small valid files and malformed ones.

    python3 tests/fuzz/make_safetensors_corpus.py [OUT_DIR]

OUT_DIR defaults to tests/fuzz/corpus/safetensors next to this script. Files named
valid_*.safetensors must open; every other file must be refused by vg_st_open with a
one-line error (tests/core/test_safetensors.c and tests/cli/test_inspect.sh check
both). The same folder seeds the libFuzzer target fuzz_safetensors.

Stdlib only. The output is deterministic, so re-running it reproduces the committed
files byte for byte.
"""
import json
import os
import struct
import sys


def pad8(h: bytes) -> bytes:
    return h + b" " * (-len(h) % 8)


def st_bytes(header, data=b"", hlen=None, pad=True):
    """header: dict (dumped as JSON), str or bytes (used as is)."""
    if isinstance(header, dict):
        h = json.dumps(header, separators=(",", ":")).encode()
    elif isinstance(header, str):
        h = header.encode()
    else:
        h = header
    if pad:
        h = pad8(h)
    n = len(h) if hlen is None else hlen
    return struct.pack("<Q", n) + h + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def ent(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def corpus():
    c = {}
    # ---- valid files ------------------------------------------------------
    c["valid_small"] = st_bytes(
        {"__metadata__": {"format": "pt"},
         "a": ent("F32", [2, 2], 0, 16),
         "b": ent("F32", [3], 16, 28)},
        f32(1, 2, 3, 4) + f32(-1, 0.5, 8))
    c["valid_mixed_dtypes"] = st_bytes(
        {"h": ent("F16", [2], 0, 4),
         "bf": ent("BF16", [2], 4, 8),
         "idx": ent("I64", [1], 8, 16),
         "i": ent("I32", [2], 16, 24),
         "u": ent("U8", [3], 24, 27)},
        struct.pack("<2H", 0x3C00, 0xC000) + struct.pack("<2H", 0x3F80, 0x4000) +
        struct.pack("<q", -7) + struct.pack("<2i", 1, -2) + bytes([1, 2, 3]))
    c["valid_scalar_and_empty"] = st_bytes(
        {"scalar": ent("F32", [], 0, 4),
         "empty": ent("F32", [0, 5], 4, 4),
         "after": ent("F32", [1], 4, 8)},
        f32(3.5) + f32(1.25))
    c["valid_no_tensors"] = st_bytes({"__metadata__": {"note": "only metadata"}})
    c["valid_empty_object"] = st_bytes({})

    # ---- lengths and truncation -------------------------------------------
    good_h = pad8(json.dumps({"a": ent("F32", [4], 0, 16)}, separators=(",", ":")).encode())
    good = struct.pack("<Q", len(good_h)) + good_h + f32(1, 2, 3, 4)
    c["empty_file"] = b""
    c["trunc_length_field"] = good[:5]
    c["trunc_header"] = good[: 8 + len(good_h) // 2]
    c["trunc_data"] = good[:-6]
    c["hlen_too_big"] = struct.pack("<Q", len(good_h) + 17) + good[8:]
    c["hlen_one_past_end"] = struct.pack("<Q", len(good) - 8 + 1) + good[8:]
    c["hlen_huge"] = struct.pack("<Q", 0xFFFFFFFFFFFFFFF0) + good[8:]
    c["hlen_2p63"] = struct.pack("<Q", 1 << 63) + good[8:]
    c["hlen_zero"] = struct.pack("<Q", 0) + good[8:]
    c["hlen_short"] = struct.pack("<Q", 10) + good[8:]

    # ---- spans ------------------------------------------------------------
    c["offsets_past_end"] = st_bytes({"a": ent("F32", [4], 0, 16)}, f32(1, 2, 3))
    c["offsets_far_past_end"] = st_bytes({"a": ent("F32", [1], 1 << 40, (1 << 40) + 4)}, f32(1))
    c["offsets_int64_max"] = st_bytes({"a": ent("U8", [0], 2**63 - 1, 2**63 - 1),
                                       "b": ent("U8", [1], 2**63 - 2, 2**63 - 1)}, b"\0")
    c["offsets_too_big_for_json_int"] = st_bytes('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551617]}}', b"\0")
    c["begin_gt_end"] = st_bytes({"a": ent("F32", [1], 8, 4)}, f32(1, 2, 3))
    c["begin_negative"] = st_bytes({"a": ent("F32", [1], -4, 0)}, f32(1))
    c["overlap"] = st_bytes({"a": ent("F32", [3], 0, 12), "b": ent("F32", [2], 8, 16)}, f32(1, 2, 3, 4))
    c["overlap_identical"] = st_bytes({"a": ent("F32", [2], 0, 8), "b": ent("F32", [2], 0, 8)}, f32(1, 2))
    c["overlap_contained"] = st_bytes({"a": ent("F32", [4], 0, 16), "b": ent("F32", [1], 4, 8)}, f32(1, 2, 3, 4))
    # an empty tensor between two overlapping ones must not hide the overlap
    c["overlap_hidden_by_empty"] = st_bytes({"a": ent("F32", [4], 0, 16), "z": ent("F32", [0], 4, 4),
                                             "c": ent("F32", [2], 8, 16)}, f32(1, 2, 3, 4))
    c["offsets_three"] = st_bytes('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', f32(1, 2))
    c["offsets_one"] = st_bytes('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}', f32(1))
    c["offsets_float"] = st_bytes('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4.0]}}', f32(1))
    c["offsets_string"] = st_bytes('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}}', f32(1))
    c["valid_misaligned_f32_begin"] = st_bytes({"a": ent("F32", [1], 2, 6)}, f32(1, 2))
    c["valid_misaligned_i64_begin"] = st_bytes({"a": ent("I64", [1], 4, 12)}, f32(1, 2, 3))
    # header not padded: the f32 data starts at an odd file offset
    c["valid_misaligned_f32_unpadded_header"] = st_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1), pad=False)

    # ---- shapes -----------------------------------------------------------
    c["shape_2p62_elements_f32"] = st_bytes({"a": ent("F32", [2**62], 0, 4)}, f32(1))
    c["shape_2p62_elements_u8"] = st_bytes({"a": ent("U8", [2**31, 2**31], 0, 4)}, f32(1))
    c["shape_negative_dim"] = st_bytes({"a": ent("F32", [-1, 4], 0, 16)}, f32(1, 2, 3, 4))
    c["shape_negative_product_positive"] = st_bytes({"a": ent("F32", [-2, -2], 0, 16)}, f32(1, 2, 3, 4))
    c["shape_product_overflow"] = st_bytes({"a": ent("F32", [2**32, 2**32, 2], 0, 8)}, f32(1, 2))
    c["shape_times_size_overflow"] = st_bytes({"a": ent("I64", [2**61], 0, 8)}, f32(1, 2))
    c["shape_wraps_to_span"] = st_bytes({"a": ent("F32", [2**62 + 1], 0, 4)}, f32(1))
    c["shape_span_mismatch"] = st_bytes({"a": ent("F32", [3], 0, 16)}, f32(1, 2, 3, 4))
    c["shape_zero_nonempty_span"] = st_bytes({"a": ent("F32", [0], 0, 4)}, f32(1))
    c["shape_float_dim"] = st_bytes('{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', f32(1, 2))
    c["shape_not_array"] = st_bytes('{"a":{"dtype":"F32","shape":4,"data_offsets":[0,16]}}', f32(1, 2, 3, 4))
    c["shape_too_many_dims"] = st_bytes({"a": ent("F32", [1] * 9, 0, 4)}, f32(1))

    # ---- dtypes and entries -----------------------------------------------
    c["dtype_unknown"] = st_bytes({"a": ent("Q99", [1], 0, 4)}, f32(1))
    c["dtype_lowercase"] = st_bytes({"a": ent("f32", [1], 0, 4)}, f32(1))
    c["dtype_not_string"] = st_bytes('{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["entry_not_object"] = st_bytes('{"a":[1,2,3]}', f32(1))
    c["entry_missing_dtype"] = st_bytes('{"a":{"shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["entry_missing_offsets"] = st_bytes('{"a":{"dtype":"F32","shape":[1]}}', f32(1))

    # ---- header JSON ------------------------------------------------------
    c["header_array"] = st_bytes("[1,2,3]")
    c["header_string"] = st_bytes('"safetensors"')
    c["header_number"] = st_bytes("42")
    c["header_null"] = st_bytes("null")
    c["json_truncated"] = st_bytes('{"a":{"dtype":"F32","shape":[1],', f32(1))
    c["json_trailing_garbage"] = st_bytes('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} xyz', f32(1))
    c["json_nul_padding"] = st_bytes(b'{}' + b"\0" * 6, pad=False)
    c["json_nul_in_name"] = st_bytes(b'{"a\0b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["json_escaped_nul_in_name"] = st_bytes('{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["json_single_quotes"] = st_bytes("{'a': 1}")
    c["json_deep_nesting"] = st_bytes('{"a":' + "[" * 5000 + "]" * 5000 + "}")
    c["bad_utf8_in_name"] = st_bytes(b'{"a\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["bad_utf8_overlong"] = st_bytes(b'{"a\xc0\xaf":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["bad_utf8_truncated_seq"] = st_bytes(b'{"a":{"dtype":"F\xe2\x82","shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["bad_utf8_lone_surrogate"] = st_bytes('{"a\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1))
    c["bad_utf8_in_metadata"] = st_bytes(b'{"__metadata__":{"k":"v\xed\xa0\x80"}}')
    c["duplicate_names"] = st_bytes('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                    '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32(1, 2))
    c["duplicate_metadata"] = st_bytes('{"__metadata__":{},"__metadata__":{}}')
    c["metadata_non_string_value"] = st_bytes({"__metadata__": {"k": 1}})
    c["metadata_nested_object"] = st_bytes({"__metadata__": {"k": {"x": "y"}}})
    c["metadata_not_object"] = st_bytes({"__metadata__": "pt"})
    # a control character in a name must not break the one-line error message
    c["newline_in_name"] = st_bytes({"bad\nname\x1b[31m": ent("Q99", [1], 0, 4)}, f32(1))
    return c


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "safetensors")
    os.makedirs(out, exist_ok=True)
    files = corpus()
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(data)
    print("%d files in %s" % (len(files), out))


if __name__ == "__main__":
    main()
