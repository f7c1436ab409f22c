#!/usr/bin/env python3
"""Writes the seed corpora of the tokenizer fuzz targets (test tooling only):
tests/fuzz/corpus/spm_model/ (small spiece.model files, valid and broken) and
tests/fuzz/corpus/tokenizer_json/ (small tokenizer.json files, valid and broken).
The small charsmap comes from a sentencepiece model trained here with a 4-rule
normalization TSV (needs the `sentencepiece` PyPI package); every file stays < 50 KB."""
import base64, json, os, random, struct, sys, tempfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")
SP = "\u2581"


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def piece(text, score, typ=1):
    b = ld(1, text.encode()) + key(2, 5) + struct.pack("<f", score)
    if typ != 1:
        b += key(3, 0) + varint(typ)
    return ld(1, b)


def model(pieces, charsmap=b"", byte_fallback=False, dummy=True, extra=True, user=()):
    m = b"".join(piece(*p) for p in pieces)
    if byte_fallback:
        m += b"".join(piece("<0x%02X>" % b, 0.0, 6) for b in range(256))
    m += b"".join(piece(u, 0.0, 4) for u in user)
    tr = key(3, 0) + varint(1) + key(40, 0) + varint(2) + key(41, 0) + varint((1 << 64) - 1) + key(42, 0) + varint(1) + key(43, 0) + varint(0)
    if byte_fallback:
        tr += key(35, 0) + varint(1)
    m += ld(2, tr)
    nm = ld(1, b"custom") + (ld(2, charsmap) if charsmap else b"") + key(3, 0) + varint(int(dummy)) + key(4, 0) + varint(int(extra)) + key(5, 0) + varint(1)
    return m + ld(3, nm)


def read_varint(b, i):
    v = shift = 0
    while True:
        v |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            return v, i


def field(msg, want):
    """The last length-delimited field `want` of a protobuf message (b"" if absent)."""
    i, found = 0, b""
    while i < len(msg):
        k, i = read_varint(msg, i)
        f, w = k >> 3, k & 7
        if w == 0:
            _, i = read_varint(msg, i)
        elif w == 1:
            i += 8
        elif w == 5:
            i += 4
        elif w == 2:
            n, i = read_varint(msg, i)
            if f == want:
                found = msg[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % w)
    return found


def small_charsmap():
    import sentencepiece as spm
    d = tempfile.mkdtemp()
    rules = os.path.join(d, "rules.tsv")
    with open(rules, "w") as f:  # source code points TAB target code points
        f.write("FF21\t41\nFF22\t42\n3000\t20\nFB01\t66 69\n")
    corpus = os.path.join(d, "c.txt")
    rnd = random.Random(0)
    with open(corpus, "w") as f:
        for _ in range(500):
            f.write(" ".join(rnd.choice(["ab", "ba", "abc", "cab", "fi"]) for _ in range(6)) + "\n")
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(d, "m"), vocab_size=20,
                                   normalization_rule_tsv=rules, minloglevel=2, hard_vocab_limit=False)
    m = spm.SentencePieceProcessor(model_file=os.path.join(d, "m.model"))
    proto = open(os.path.join(d, "m.model"), "rb").read()
    return proto, m


def main():
    pieces = [("<pad>", 0.0, 3), ("</s>", 0.0, 3), ("<unk>", 0.0, 2), (SP, -2.0, 1), ("a", -3.0, 1), ("b", -3.5, 1),
              ("c", -4.0, 1), ("ab", -4.5, 1), (SP + "a", -3.2, 1), ("bc", -5.0, 1), ("f", -4.4, 1), ("i", -4.6, 1),
              ("aaa", -1.0, 5)]
    trained, _ = small_charsmap()
    charsmap = field(field(trained, 3), 2)  # normalizer_spec.precompiled_charsmap
    assert charsmap, "the trained model has no charsmap"
    out = os.path.join(root, "spm_model")
    files = {
        "identity.model": model(pieces),
        "charsmap.model": model(pieces, charsmap),
        "bytefallback.model": model(pieces, charsmap, byte_fallback=True),
        "user_defined.model": model(pieces, b"", user=("<sep>", "[MASK]"), dummy=False, extra=False),
        "trained.model": trained,
    }
    files["truncated.model"] = files["charsmap.model"][: len(files["charsmap.model"]) * 2 // 3]
    bad = bytearray(files["charsmap.model"])
    pos = bad.find(charsmap[:8])
    bad[pos:pos + 4] = struct.pack("<I", 0x7FFFFFF0)  # a trie size that lies
    files["lying_trie_size.model"] = bytes(bad)
    files["random.bin"] = bytes(random.Random(3).getrandbits(8) for _ in range(512))
    for name, data in files.items():
        assert len(data) < 50000, name
        open(os.path.join(out, name), "wb").write(data)

    out = os.path.join(root, "tokenizer_json")
    vocab = [[p, s] for p, s, _ in pieces] + [["<extra_id_1>", 0.0], ["<extra_id_0>", 0.0]]
    added = [{"id": i, "content": c, "special": True, "lstrip": False, "rstrip": False, "normalized": False, "single_word": False}
             for i, c in [(0, "<pad>"), (1, "</s>"), (2, "<unk>"), (len(pieces), "<extra_id_1>"), (len(pieces) + 1, "<extra_id_0>")]]
    good = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                              {"type": "Metaspace", "replacement": SP, "prepend_scheme": "always", "split": True}]},
            "post_processor": {"type": "TemplateProcessing", "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
            "decoder": {"type": "Metaspace", "replacement": SP, "prepend_scheme": "always", "split": True},
            "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": False}}
    jfiles = {"valid.json": json.dumps(good, ensure_ascii=False)}
    g = json.loads(json.dumps(good)); g["model"]["type"] = "BPE"; jfiles["bpe.json"] = json.dumps(g)
    g = json.loads(json.dumps(good)); del g["model"]["unk_id"]; jfiles["no_unk.json"] = json.dumps(g)
    g = json.loads(json.dumps(good)); g["normalizer"]["precompiled_charsmap"] = "AAA*"; jfiles["bad_base64.json"] = json.dumps(g)
    g = json.loads(json.dumps(good)); g["model"]["vocab"][4] = ["a"]; jfiles["bad_vocab_entry.json"] = json.dumps(g)
    g = json.loads(json.dumps(good)); g["added_tokens"][3]["id"] = 1 << 40; jfiles["huge_added_id.json"] = json.dumps(g)
    g = json.loads(json.dumps(good)); g["normalizer"] = None; g["pre_tokenizer"] = {"type": "Metaspace", "replacement": SP, "add_prefix_space": True}
    jfiles["identity_old_metaspace.json"] = json.dumps(g)
    jfiles["truncated.json"] = jfiles["valid.json"][: len(jfiles["valid.json"]) // 2]
    jfiles["not_object.json"] = "[1, 2, 3]"
    for name, data in jfiles.items():
        assert len(data.encode()) < 50000, name
        open(os.path.join(out, name), "w").write(data)
    print("wrote", len(files), "spm seeds and", len(jfiles), "json seeds")


if __name__ == "__main__":
    sys.exit(main())
