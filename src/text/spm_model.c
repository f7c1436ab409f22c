/* A minimal protobuf reader for sentencepiece's ModelProto (spiece.model).
 *
 * Reads only what encoding needs; every other field is skipped by its wire type:
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
 *   TrainerSpec     3 model_type (1 = UNIGRAM), 24 treat_whitespace_as_suffix,
 *                   35 byte_fallback, 40..43 unk/bos/eos/pad ids, 47 eos_piece, 48 pad_piece
 *   NormalizerSpec  2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
 *                   5 escape_whitespaces (the three default to true)
 * Every length and offset is checked against the bytes that remain. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"

typedef struct pb { const uint8_t *p, *end; const char *where; } pb;

static vg_status pb_varint(pb *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return vg_err(VG_ERR_FORMAT, "%s: truncated varint", r->where);
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *out = v; return VG_OK; }
    }
    return vg_err(VG_ERR_FORMAT, "%s: varint longer than 10 bytes", r->where);
}

/* Reads a field key; *field = 0 at the end of the message. */
static vg_status pb_key(pb *r, uint32_t *field, int *wire) {
    if (r->p >= r->end) { *field = 0; return VG_OK; }
    uint64_t k;
    VG_TRY(pb_varint(r, &k));
    if ((k >> 3) == 0 || (k >> 3) > 0x1fffffff) return vg_err(VG_ERR_FORMAT, "%s: bad field number %llu", r->where, (unsigned long long)(k >> 3));
    *field = (uint32_t)(k >> 3);
    *wire = (int)(k & 7);
    return VG_OK;
}

/* A length-delimited payload as a sub-reader. */
static vg_status pb_bytes(pb *r, pb *sub) {
    uint64_t n;
    VG_TRY(pb_varint(r, &n));
    if (n > (uint64_t)(r->end - r->p)) return vg_err(VG_ERR_FORMAT, "%s: field length %llu runs past the end (%lld bytes left)", r->where, (unsigned long long)n, (long long)(r->end - r->p));
    sub->p = r->p;
    sub->end = r->p + n;
    sub->where = r->where;
    r->p += n;
    return VG_OK;
}

static vg_status pb_fixed32(pb *r, uint32_t *out) {
    if (r->end - r->p < 4) return vg_err(VG_ERR_FORMAT, "%s: truncated 32-bit field", r->where);
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return VG_OK;
}

static vg_status pb_skip(pb *r, int wire) {
    uint64_t v;
    pb sub;
    switch (wire) {
    case 0: return pb_varint(r, &v);
    case 1:
        if (r->end - r->p < 8) return vg_err(VG_ERR_FORMAT, "%s: truncated 64-bit field", r->where);
        r->p += 8;
        return VG_OK;
    case 2: return pb_bytes(r, &sub);
    case 5:
        if (r->end - r->p < 4) return vg_err(VG_ERR_FORMAT, "%s: truncated 32-bit field", r->where);
        r->p += 4;
        return VG_OK;
    default: return vg_err(VG_ERR_FORMAT, "%s: unsupported protobuf wire type %d", r->where, wire);
    }
}

static vg_status expect_wire(pb *r, uint32_t field, int wire, int want, const char *msg) {
    if (wire != want) return vg_err(VG_ERR_FORMAT, "%s: %s field %u has wire type %d, expected %d", r->where, msg, field, wire, want);
    return VG_OK;
}

static vg_status read_piece(vg_tokenizer *t, pb r) {
    pb text = {0};
    bool have_text = false;
    float score = 0;
    uint64_t type = VG_SPM_NORMAL;
    uint32_t f = 0;
    int w = 0;
    for (;;) {
        VG_TRY(pb_key(&r, &f, &w));
        if (!f) break;
        if (f == 1) { VG_TRY(expect_wire(&r, f, w, 2, "SentencePiece")); VG_TRY(pb_bytes(&r, &text)); have_text = true; }
        else if (f == 2) {
            VG_TRY(expect_wire(&r, f, w, 5, "SentencePiece"));
            uint32_t bits = 0;
            VG_TRY(pb_fixed32(&r, &bits));
            memcpy(&score, &bits, 4);
        } else if (f == 3) {
            VG_TRY(expect_wire(&r, f, w, 0, "SentencePiece"));
            VG_TRY(pb_varint(&r, &type));
            if (type < VG_SPM_NORMAL || type > VG_SPM_BYTE)
                return vg_err(VG_ERR_FORMAT, "%s: piece %d has unknown type %llu", r.where, t->vocab.n, (unsigned long long)type);
        } else VG_TRY(pb_skip(&r, w));
    }
    if (!have_text || text.end == text.p) return vg_err(VG_ERR_FORMAT, "%s: piece %d is empty", r.where, t->vocab.n);
    return vg_spm_vocab_add(&t->vocab, (const char *)text.p, (size_t)(text.end - text.p), score, (int)type);
}

typedef struct trainer_info {
    uint64_t model_type;
    int64_t unk_id, bos_id, eos_id, pad_id;
    pb eos_piece, pad_piece;
} trainer_info;

static vg_status read_int32(pb *r, uint32_t f, int w, int64_t *out) {
    VG_TRY(expect_wire(r, f, w, 0, "TrainerSpec"));
    uint64_t v;
    VG_TRY(pb_varint(r, &v));
    *out = (int64_t)(int32_t)(uint32_t)v; /* int32 values are sign-extended varints */
    return VG_OK;
}

static vg_status read_trainer(vg_tokenizer *t, pb r, trainer_info *ti) {
    uint32_t f = 0;
    int w = 0;
    uint64_t v;
    for (;;) {
        VG_TRY(pb_key(&r, &f, &w));
        if (!f) break;
        switch (f) {
        case 3: VG_TRY(expect_wire(&r, f, w, 0, "TrainerSpec")); VG_TRY(pb_varint(&r, &ti->model_type)); break;
        case 24: VG_TRY(expect_wire(&r, f, w, 0, "TrainerSpec")); VG_TRY(pb_varint(&r, &v)); t->norm.treat_whitespace_as_suffix = v != 0; break;
        case 35: VG_TRY(expect_wire(&r, f, w, 0, "TrainerSpec")); VG_TRY(pb_varint(&r, &v)); t->byte_fallback = v != 0; break;
        case 40: VG_TRY(read_int32(&r, f, w, &ti->unk_id)); break;
        case 41: VG_TRY(read_int32(&r, f, w, &ti->bos_id)); break;
        case 42: VG_TRY(read_int32(&r, f, w, &ti->eos_id)); break;
        case 43: VG_TRY(read_int32(&r, f, w, &ti->pad_id)); break;
        case 47: VG_TRY(expect_wire(&r, f, w, 2, "TrainerSpec")); VG_TRY(pb_bytes(&r, &ti->eos_piece)); break;
        case 48: VG_TRY(expect_wire(&r, f, w, 2, "TrainerSpec")); VG_TRY(pb_bytes(&r, &ti->pad_piece)); break;
        default: VG_TRY(pb_skip(&r, w));
        }
    }
    return VG_OK;
}

static vg_status read_normalizer(vg_tokenizer *t, pb r) {
    uint32_t f = 0;
    int w = 0;
    uint64_t v;
    for (;;) {
        VG_TRY(pb_key(&r, &f, &w));
        if (!f) break;
        switch (f) {
        case 2: {
            VG_TRY(expect_wire(&r, f, w, 2, "NormalizerSpec"));
            pb blob;
            VG_TRY(pb_bytes(&r, &blob));
            vg_spm_normalizer_free(&t->norm); /* a repeated field: the last one wins */
            if (blob.end > blob.p) VG_TRY(vg_spm_normalizer_set_charsmap(&t->norm, blob.p, (size_t)(blob.end - blob.p), r.where));
            break;
        }
        case 3: VG_TRY(expect_wire(&r, f, w, 0, "NormalizerSpec")); VG_TRY(pb_varint(&r, &v)); t->norm.add_dummy_prefix = v != 0; break;
        case 4: VG_TRY(expect_wire(&r, f, w, 0, "NormalizerSpec")); VG_TRY(pb_varint(&r, &v)); t->norm.remove_extra_whitespaces = v != 0; break;
        case 5: VG_TRY(expect_wire(&r, f, w, 0, "NormalizerSpec")); VG_TRY(pb_varint(&r, &v)); t->norm.escape_whitespaces = v != 0; break;
        default: VG_TRY(pb_skip(&r, w));
        }
    }
    return VG_OK;
}

/* The id of a special piece: the named piece if the model has it, else the trainer's id
 * if it is in range, else -1. */
static int32_t special_id(const vg_tokenizer *t, const pb *piece, const char *def, int64_t id) {
    const char *s = def;
    size_t n = strlen(def);
    if (piece->p && piece->end > piece->p) { s = (const char *)piece->p; n = (size_t)(piece->end - piece->p); }
    int32_t found = vg_spm_vocab_lookup(&t->vocab, s, n);
    if (found >= 0) return found;
    return id >= 0 && id < t->vocab.n ? (int32_t)id : -1;
}

vg_status vg_spm_model_parse(vg_tokenizer *t, const uint8_t *buf, size_t len, const char *where) {
    pb r = {buf, buf + len, where};
    trainer_info ti = {.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2, .pad_id = -1};
    t->norm.add_dummy_prefix = t->norm.remove_extra_whitespaces = t->norm.escape_whitespaces = true;
    if (len == 0) return vg_err(VG_ERR_FORMAT, "%s: empty file", where);
    uint32_t f = 0;
    int w = 0;
    bool have_normalizer = false, have_trainer = false;
    for (;;) {
        VG_TRY(pb_key(&r, &f, &w));
        if (!f) break;
        pb sub;
        if (f >= 1 && f <= 3) {
            VG_TRY(expect_wire(&r, f, w, 2, "ModelProto"));
            VG_TRY(pb_bytes(&r, &sub));
        }
        if (f == 1) VG_TRY(read_piece(t, sub));
        else if (f == 2) { VG_TRY(read_trainer(t, sub, &ti)); have_trainer = true; }
        else if (f == 3) { VG_TRY(read_normalizer(t, sub)); have_normalizer = true; }
        else VG_TRY(pb_skip(&r, w));
    }
    if (t->vocab.n == 0) return vg_err(VG_ERR_FORMAT, "%s: not a sentencepiece model (no pieces)", where);
    if (ti.model_type != 1)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: sentencepiece model type %llu is not supported (only Unigram = 1)", where, (unsigned long long)ti.model_type);
    /* sentencepiece writes pieces, then trainer_spec, then normalizer_spec: a file cut
     * between fields is still a valid protobuf, so their absence is what shows it */
    if (!have_trainer || !have_normalizer)
        return vg_err(VG_ERR_FORMAT, "%s: no %s (truncated file?)", where, have_trainer ? "normalizer_spec" : "trainer_spec");
    VG_TRY(vg_spm_vocab_finish(&t->vocab, t->byte_fallback, where));
    t->eos_id = special_id(t, &ti.eos_piece, "</s>", ti.eos_id);
    t->pad_id = special_id(t, &ti.pad_piece, "<pad>", ti.pad_id);
    return VG_OK;
}
