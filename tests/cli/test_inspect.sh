#!/usr/bin/env bash
# vgen inspect, driven through the real binary:
#   bash test_inspect.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
# Tensor names and counts are checked against an independent parse of each file's
# header (python3, stdlib), never against numbers written here.
set -u
VGEN=$1
GOLDEN=$2
SRC=$3
. "$(dirname "$0")/check.bash"

tmp=$(mktemp -d /tmp/vg_test_inspect.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# names of the tensors in a safetensors file, one a line, from its header
st_names() {
    python3 - "$1" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
for k in sorted(h):
    if k != "__metadata__":
        print(k)
EOF
}

# ---- one file ----------------------------------------------------------------
dit=$GOLDEN/wan_dit/weights.safetensors
st_names "$dit" >"$tmp/want_names"
n_want=$(wc -l <"$tmp/want_names")
"$VGEN" inspect "$dit" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "inspect file: exit 0" '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ]'
check "inspect file: count line says $n_want tensors" 'grep -q "^  $n_want tensors, " "$tmp/out"'
check "inspect file: real diffusers names" 'grep -q "^  blocks\.0\.attn1\.to_q\.weight  *f32  *\[" "$tmp/out"'
if [ "$n_want" -gt 40 ]; then
    check "inspect file: first 40, then '... N more'" \
        '[ $(grep -c "^  [^ ]*  *\(f32\|f16\|bf16\|i64\|i32\|u8\)  *\[" "$tmp/out") -eq 40 ] && grep -q "^  \.\.\. $((n_want - 40)) more" "$tmp/out"'
fi
"$VGEN" inspect "$dit" --all >"$tmp/all" 2>&1
awk '/^  [^ ]+ +(f32|f16|bf16|i64|i32|u8) +\[/ {print $1}' "$tmp/all" | sort >"$tmp/got_names"
check "inspect --all: every tensor, exactly the header's names" 'cmp -s "$tmp/got_names" "$tmp/want_names"'
check "inspect --all: no '... more' line" '! grep -q "more (--all" "$tmp/all"'
# shape and bytes of one tensor against the header
want_line=$(python3 - "$dit" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
e = h["blocks.0.attn1.to_q.weight"]
print("[%s] %d" % (", ".join(str(d) for d in e["shape"]), e["data_offsets"][1] - e["data_offsets"][0]))
EOF
)
got_line=$(grep "^  blocks\.0\.attn1\.to_q\.weight " "$tmp/all" | sed 's/^ *[^ ]* *[^ ]* *//; s/  */ /g')
check "inspect: shape and bytes of blocks.0.attn1.to_q.weight ($want_line)" '[ "$got_line" = "$want_line" ]'

# ---- a diffusers model folder ---------------------------------------------------
pipe=$GOLDEN/wan_pipeline
"$VGEN" inspect "$pipe" >"$tmp/pipe" 2>"$tmp/pipe_err"
rc=$?
check "inspect pipeline: exit 0, nothing on stderr" '[ $rc -eq 0 ] && [ ! -s "$tmp/pipe_err" ]'
for comp in $(python3 -c 'import json,sys; print(" ".join(k for k in json.load(open(sys.argv[1])) if not k.startswith("_")))' "$pipe/model_index.json"); do
    check "inspect pipeline: header for $comp" 'grep -q "^== $comp: " "$tmp/pipe"'
done
check "inspect pipeline: scheduler named and skipped" 'grep -A1 "^== scheduler: " "$tmp/pipe" | grep -q "skipped"'
n_tr=$(st_names "$pipe/transformer/diffusion_pytorch_model.safetensors" | wc -l)
check "inspect pipeline: transformer lists its $n_tr tensors" \
    'awk "/^== transformer:/{f=1} /^== vae:/{f=0} f" "$tmp/pipe" | grep -q "^  $n_tr tensors, "'
n_comp=$(python3 -c '
import glob, json, os, sys
d = sys.argv[1]
print(sum(1 for k in json.load(open(d + "/model_index.json"))
          if not k.startswith("_") and glob.glob(os.path.join(d, k, "*.safetensors"))))' "$pipe")
check "inspect pipeline: closing total over $n_comp components" 'grep -q "^total: $n_comp components with weights, " "$tmp/pipe"'
"$VGEN" inspect "$pipe/transformer" >"$tmp/comp" 2>&1
check "inspect component folder" '[ $? -eq 0 ] && grep -q "^  $n_tr tensors, " "$tmp/comp"'

# ---- a sharded set written here ---------------------------------------------------
python3 - "$tmp/sharded" <<'EOF'
import json, os, struct, sys
d = sys.argv[1]
os.makedirs(d)
def write(path, tensors):
    hdr, data = {}, b""
    for name, shape in tensors:
        n = 1
        for s in shape: n *= s
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
        data += struct.pack("<%df" % n, *range(n))
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
write(d + "/m-1.safetensors", [("a.weight", [2, 3]), ("a.bias", [2])])
write(d + "/m-2.safetensors", [("b.weight", [4, 2])])
json.dump({"weight_map": {"a.weight": "m-1.safetensors", "a.bias": "m-1.safetensors",
                          "b.weight": "m-2.safetensors"}}, open(d + "/model.safetensors.index.json", "w"))
EOF
"$VGEN" inspect "$tmp/sharded/model.safetensors.index.json" >"$tmp/sh" 2>&1
check "inspect sharded index: 3 tensors, 16 parameters, 2 files" \
    '[ $? -eq 0 ] && grep -q "^  3 tensors, 16 parameters (16), 64 bytes (64 B) in 2 files" "$tmp/sh"'
rm "$tmp/sharded/m-2.safetensors"
"$VGEN" inspect "$tmp/sharded" >"$tmp/sh" 2>"$tmp/sh_err"
rc=$?
check "inspect sharded set with a missing shard: one line naming it, exit 1" \
    '[ $rc -eq 1 ] && [ $(wc -l <"$tmp/sh_err") -eq 1 ] && grep -q "^vgen: .*m-2.safetensors" "$tmp/sh_err"'

# ---- usage ---------------------------------------------------------------------------
"$VGEN" inspect --help >"$tmp/help" 2>&1
check "--help: exit 0 with usage" '[ $? -eq 0 ] && grep -q "usage: vgen inspect" "$tmp/help"'
"$VGEN" inspect >/dev/null 2>&1
check "no argument: exit 2" '[ $? -eq 2 ]'
"$VGEN" inspect --bogus "$dit" >/dev/null 2>&1
check "unknown option: exit 2" '[ $? -eq 2 ]'
"$VGEN" inspect "$dit" "$dit" >/dev/null 2>&1
check "two paths: exit 2" '[ $? -eq 2 ]'
"$VGEN" inspect "$tmp/no-such-file.safetensors" >"$tmp/o" 2>"$tmp/e"
rc=$?
check "missing file: exit 1, one line 'vgen: <file>: ...'" \
    '[ $rc -eq 1 ] && [ $(wc -l <"$tmp/e") -eq 1 ] && grep -q "^vgen: $tmp/no-such-file.safetensors: " "$tmp/e"'

# ---- the malformed corpus: one line, exit 1, never a signal -----------------------------
corpus=$SRC/tests/fuzz/corpus/safetensors
n_bad=0
bad_files=""
for f in "$corpus"/*.safetensors; do
    "$VGEN" inspect "$f" >"$tmp/o" 2>"$tmp/e"
    rc=$?
    case $(basename "$f") in
    valid_*)
        if [ $rc -ne 0 ] || [ -s "$tmp/e" ]; then bad_files="$bad_files $(basename "$f")(rc=$rc)"; fi ;;
    *)
        lines=$(wc -l <"$tmp/e")
        if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -q "^vgen: $f: " "$tmp/e"; then
            bad_files="$bad_files $(basename "$f")(rc=$rc,lines=$lines)"
        fi
        [ $rc -ge 128 ] && bad_files="$bad_files SIGNAL:$(basename "$f")"
        n_bad=$((n_bad + 1)) ;;
    esac
done
check "malformed corpus ($n_bad files): one stderr line naming the file, exit 1 each; valid_* exit 0" \
    '[ -z "$bad_files" ] && [ $n_bad -ge 40 ]'
[ -n "$bad_files" ] && echo "  offending:$bad_files" >&2

# the golden DiT folders, both namings: the architecture line agrees with config.json
for set in wan_dit wan_dit_original_names; do
    want=$(python3 -c "
import json; c = json.load(open('$GOLDEN/$set/config.json'))['constructor_kwargs']
print('Wan2.1 DiT: %d layers, dim %d, %d heads x %d, ffn %d, text %d' % (c['num_layers'],
      c['num_attention_heads'] * c['attention_head_dim'], c['num_attention_heads'], c['attention_head_dim'],
      c['ffn_dim'], c['text_dim']))")
    got=$("$VGEN" inspect "$GOLDEN/$set" 2>&1 | grep '^  architecture:')
    check "inspect $set folder: architecture from config.json" "grep -qF \"\$want\" <<<\"\$got\""
done

finish
