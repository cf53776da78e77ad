#!/usr/bin/env python3
"""gen_wav2vec2_fixtures.py — reference fixtures for tests/test_wav2vec2.c (src/models/wav2vec2.c):
small random-weight wav2vec2 CTC models of both families, made and run by transformers'
Wav2Vec2ForCTC and torchaudio's wav2vec2_model (versions pinned in tools/requirements-vad.txt;
CPU, float32, eval mode, seeded):

  tests/fixtures/wav2vec2_hf_base/    HF directory, base family (feat_extract_norm "group",
      do_stable_layer_norm false, no conv bias), model.safetensors in float16 with the
      positional conv's weight norm under the hub's names (weight_g / weight_v).
  tests/fixtures/wav2vec2_hf_large/   HF directory, large family ("layer", stable layer norm,
      conv bias), pytorch_model.bin (safe_serialization=False) in float32, weight norm under
      torch's parametrization names (parametrizations.weight.original0 / original1).
  tests/fixtures/wav2vec2_ta_base.pth torchaudio base-family state dict (layer_norm_first
      false) in float16 as torchaudio's ASR downloads are: weight_g / weight_v, and aux with
      3 extra rows (1, 2, 3) that the loader must drop as torchaudio's _remove_aux_axes does;
      the reference also normalises the waveform (utils._extend_model), so the test bundle
      sets both.
  tests/fixtures/wav2vec2_ta_large.pth torchaudio large-family state dict (layer_norm_first,
      layer-norm extractor, conv bias), float32, the positional conv's weight norm already
      removed (a plain conv.weight), no removed rows.
  tests/fixtures/wav2vec2.fix  "wave" (f32, 8000 samples of 16 kHz: tones + noise), and per
      model M and prefix length L in LENGTHS: "M/L" (f32 (T, V) logits of wave[:L]).

All conv_dim are 16 and hidden sizes 32 or 16 to keep the set small; the positional conv
keeps WhisperX's models' kernel 128 and 16 groups.

Regenerate: .cache/venv-vad/bin/python tools/gen_wav2vec2_fixtures.py
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

import safetensors.torch  # noqa: E402
import torchaudio  # noqa: E402
from torchaudio.pipelines._wav2vec2 import utils as ta_utils  # noqa: E402
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures")
N_SAMPLES = 8000
LENGTHS = [8000, 4801, 400]
CONV = [(16, 10, 5), (16, 3, 2), (16, 3, 2), (16, 3, 2), (16, 3, 2), (16, 2, 2), (16, 2, 2)]
# HF vocab (id order): CTC blank "<pad>" first as in facebook/wav2vec2-base-960h; one
# non-ASCII letter to exercise UTF-8.
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "a", "b", "c", "d", "e", "é", "'"]
TA_LABELS = 10   # labels of the torchaudio test bundles (blank + 9): see test_wav2vec2.c
TA_REMOVE = (1, 2, 3)


def randomise(model, gen):
    """Norm gains/biases and the weight-norm g are initialised to constants; make them random
    so that every parameter matters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight") or name.endswith("final_layer_norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("layer_norm.bias") or name.endswith("final_layer_norm.bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("original0") or name.endswith("weight_g"):
                p.copy_(p * (0.5 + torch.rand(p.shape, generator=gen)))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def waveform():
    rng = np.random.default_rng(1234)
    t = np.arange(N_SAMPLES) / 16000.0
    w = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1375 * t + 0.5)
    w *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    w += 0.05 * rng.standard_normal(N_SAMPLES)
    return w.astype(np.float32)


def hf_model(large, hidden, layers, heads, ffn, seed):
    torch.manual_seed(seed)
    cfg = Wav2Vec2Config(
        vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=ffn, hidden_act="gelu",
        conv_dim=[c for c, _, _ in CONV], conv_kernel=[k for _, k, _ in CONV],
        conv_stride=[s for _, _, s in CONV], num_conv_pos_embeddings=128,
        num_conv_pos_embedding_groups=16, feat_extract_norm="layer" if large else "group",
        do_stable_layer_norm=large, conv_bias=large, layer_norm_eps=1e-5, pad_token_id=0,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        final_dropout=0.0, layerdrop=0.0)
    model = Wav2Vec2ForCTC(cfg).eval()
    randomise(model, torch.Generator().manual_seed(seed + 1))
    return model


def save_hf_base(model, path):
    """float16 model.safetensors with the hub's weight_g / weight_v names."""
    shutil.rmtree(path, ignore_errors=True)
    model.half().save_pretrained(path, safe_serialization=True)
    model.float()
    st_path = os.path.join(path, "model.safetensors")
    tensors = safetensors.torch.load_file(st_path)
    renamed = {}
    for k, v in tensors.items():
        k = k.replace("parametrizations.weight.original0", "weight_g")
        k = k.replace("parametrizations.weight.original1", "weight_v")
        renamed[k] = v.contiguous()
    safetensors.torch.save_file(renamed, st_path, metadata={"format": "pt"})


def write_vocab(path):
    with open(os.path.join(path, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({tok: i for i, tok in enumerate(VOCAB)}, f, ensure_ascii=False)


def clean_dir(path):
    for name in os.listdir(path):
        if name not in ("config.json", "vocab.json", "model.safetensors", "pytorch_model.bin"):
            os.remove(os.path.join(path, name))


def ta_model(large, hidden, layers, heads, ffn, aux, seed):
    torch.manual_seed(seed)
    model = torchaudio.models.wav2vec2_model(
        extractor_mode="layer_norm" if large else "group_norm",
        extractor_conv_layer_config=CONV, extractor_conv_bias=large,
        encoder_embed_dim=hidden, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=128,
        encoder_pos_conv_groups=16, encoder_num_layers=layers, encoder_num_heads=heads,
        encoder_attention_dropout=0.0, encoder_ff_interm_features=ffn,
        encoder_ff_interm_dropout=0.0, encoder_dropout=0.0, encoder_layer_norm_first=large,
        encoder_layer_drop=0.0, aux_num_out=aux).eval()
    randomise(model, torch.Generator().manual_seed(seed + 1))
    return model


def main():
    wave = waveform()
    arrays = {"wave": wave}

    def record(name, fn):
        with torch.no_grad():
            for n in LENGTHS:
                out = fn(torch.from_numpy(wave[:n]).unsqueeze(0))
                arrays[f"{name}/{n}"] = out[0].float().numpy()

    # HF base: float16 safetensors, hub names.
    path = os.path.join(OUT, "wav2vec2_hf_base")
    save_hf_base(hf_model(False, 32, 2, 4, 64, seed=11), path)
    write_vocab(path)
    clean_dir(path)
    ref = Wav2Vec2ForCTC.from_pretrained(path, torch_dtype=torch.float32).eval()
    record("hf_base", lambda x: ref(x).logits)

    # HF large: float32 pytorch_model.bin, parametrization names.
    path = os.path.join(OUT, "wav2vec2_hf_large")
    shutil.rmtree(path, ignore_errors=True)
    hf_model(True, 16, 2, 4, 32, seed=21).save_pretrained(path, safe_serialization=False)
    write_vocab(path)
    clean_dir(path)
    ref = Wav2Vec2ForCTC.from_pretrained(path, torch_dtype=torch.float32).eval()
    record("hf_large", lambda x: ref(x).logits)

    # torchaudio base: float16, weight_g / weight_v, aux rows 1-3 to remove, normalised input.
    raw = ta_model(False, 32, 1, 4, 64, TA_LABELS + len(TA_REMOVE), seed=31)
    sd = {k: v.half() for k, v in raw.state_dict().items()}
    sd = {k.replace("parametrizations.weight.original0", "weight_g")
           .replace("parametrizations.weight.original1", "weight_v"): v for k, v in sd.items()}
    torch.save(sd, os.path.join(OUT, "wav2vec2_ta_base.pth"))
    loaded = torch.load(os.path.join(OUT, "wav2vec2_ta_base.pth"))
    loaded = {k: v.float() for k, v in loaded.items()}
    ta_utils._remove_aux_axes(loaded, TA_REMOVE)
    ref = ta_model(False, 32, 1, 4, 64, TA_LABELS, seed=31)
    ref.load_state_dict(loaded)
    ref = ta_utils._extend_model(ref, normalize_waveform=True).eval()
    record("ta_base", lambda x: ref(x)[0])

    # torchaudio large: float32, weight norm removed (a plain conv.weight, as torchaudio's
    # __prepare_scriptable__ leaves it), nothing removed from aux, raw input.
    def unnormed(model):
        torch.nn.utils.parametrize.remove_parametrizations(
            model.encoder.transformer.pos_conv_embed.conv, "weight")
        return model
    raw = unnormed(ta_model(True, 16, 1, 2, 32, TA_LABELS, seed=41))
    torch.save(raw.state_dict(), os.path.join(OUT, "wav2vec2_ta_large.pth"))
    ref = unnormed(ta_model(True, 16, 1, 2, 32, TA_LABELS, seed=41))
    ref.load_state_dict(torch.load(os.path.join(OUT, "wav2vec2_ta_large.pth")))
    ref.eval()
    record("ta_large", lambda x: ref(x)[0])

    write_fixture(os.path.join(OUT, "wav2vec2.fix"), arrays)
    for k, v in arrays.items():
        print(k, v.shape, float(np.abs(v).max()))


if __name__ == "__main__":
    main()
