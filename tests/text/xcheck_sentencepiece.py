#!/usr/bin/env python3
"""Cross-checks vgen's tokenizer against the real sentencepiece library (test tooling).

    python3 tests/text/xcheck_sentencepiece.py VGEN_BINARY SPIECE_MODEL [VGEN_MODEL_PATH] [N]

Encodes N random texts (mixed scripts, full-width forms, ligatures, combining marks,
emoji, odd whitespace, user-defined symbols) with sentencepiece.SentencePieceProcessor
and with `vgen tokenize --no-special --no-eos --stdin0` (loading VGEN_MODEL_PATH, default
the same spiece.model: pass a folder holding only tokenizer.json to check that reader),
and reports every mismatch. Needs `pip install sentencepiece`. Exit 1 on any mismatch."""
import random, subprocess, sys

import sentencepiece as spm


def texts(n, seed=1):
    rnd = random.Random(seed)
    pools = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x370, 0x500), range(0x3040, 0x3100), range(0x4E00, 0x4E80),
             range(0xAC00, 0xAC40), range(0xFF00, 0xFF60), range(0x2000, 0x2070), range(0x1F300, 0x1F320),
             range(0x300, 0x370), range(0xFB00, 0xFB10), range(0x2150, 0x2190), range(0x3000, 0x3010),
             [9, 10, 13, 32, 32, 32, 0x200B, 0xFEFF, 0xA0, 0xFFFD]]
    words = ["the", "cat", "<sep>", "[MASK]", "\u00fcber", "na\u00efve", "\u65e5\u672c", "\u30c6\u30b9\u30c8", "caf\u00e9",
             "x\u00b2", "\ufb01", "  ", "\t", "\uff26\uff55\uff4c\uff4c", "\U0001F600", "<se", "AAAA", "\u2581"]
    out = []
    for i in range(n):
        if i % 2:
            out.append("".join(chr(rnd.choice(list(rnd.choice(pools)))) for _ in range(rnd.randint(0, 40))))
        else:
            out.append("".join(rnd.choice(words) + rnd.choice(["", " ", "  "]) for _ in range(rnd.randint(0, 15))))
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    vgen, model = sys.argv[1], sys.argv[2]
    src = sys.argv[3] if len(sys.argv) > 3 else model
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 5000
    sp = spm.SentencePieceProcessor(model_file=model)
    ts = texts(n)
    data = "\0".join(ts) + "\0"
    r = subprocess.run([vgen, "tokenize", "--model", src, "--no-special", "--no-eos", "--stdin0"], input=data.encode(),
                       capture_output=True)
    if r.returncode != 0:
        print("vgen failed:", r.stderr.decode())
        return 1
    lines = r.stdout.decode().splitlines()
    bad = 0
    for t, line in zip(ts, lines):
        got = [int(x) for x in line.split()[1:]]
        ref = sp.encode(t)
        if got != ref:
            bad += 1
            if bad <= 5:
                print("MISMATCH", repr(t), "sentencepiece", ref, "vgen", got)
    if len(lines) != len(ts):
        print("vgen printed", len(lines), "lines for", len(ts), "texts")
        bad += 1
    print("%d texts, %d mismatches (sentencepiece %s)" % (len(ts), bad, spm.__version__))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
