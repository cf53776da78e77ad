"""gen_wespeaker_fixtures.py — reference values for tests/test_wespeaker.c from pyannote.audio
4.0.7's own WeSpeakerResNet34 (pyannote/audio/models/embedding/wespeaker), the speaker
embedding of the pyannote 3.1 and community-1 diarization pipelines.

Writes into tests/fixtures/:
  wespeaker_random.bin   a seeded random-weight WeSpeakerResNet34 saved as pyannote's hub
                         checkpoint is (a Lightning checkpoint: state_dict, hyper_parameters,
                         pytorch-lightning_version and the "pyannote.audio" block that
                         Model.from_pretrained reads). Random BatchNorm running statistics and
                         affines, so that folding them into the convolutions is tested. The
                         architecture is the real one (BasicBlock ResNet34 [3, 4, 6, 3], 80
                         mel bins, TSTP pooling, one 256-d embedding layer) with the ResNet's
                         channel width m_channels = 8 instead of 32, which WeSpeakerResNet34
                         does not expose as a hyper-parameter: the real width gives a 26 MB
                         file, this one is ~2.6 MB. Our loader takes every width from the
                         weights' shapes, so the code path is the real one.
  wespeaker_other.bin    a small PyanNet (segmentation) checkpoint written the same way: a
                         pyannote checkpoint of another architecture, which the loader refuses.
  wespeaker.fix          fbank.<clip>: model.compute_fbank (torchaudio's kaldi.fbank + the
                         per-chunk mean subtraction) of one 10 s chunk of sample.wav and one of
                         dev00.wav at frames fbank.frames (every 10th and the last);
                         fbank64.<clip>: the same computed by torch in float64 (the
                         waveform as float64: what float32 rounding moves);
                         embed.*: model(waveforms, weights) for 3 chunks of 10 s x 3 speakers
                         with masks of 589 frames (random binary runs, one speaker all zero,
                         one all one) and for 1 odd-length chunk x 2 speakers with 317 frames.
Audio: s16 / 32768 of the recordings in --data, exactly what src/io/audio.c decodes (the float32
WAVs converted to s16 as FFmpeg does); <clip>.sum lets the test check it reads the same.

Checks done here: Model.from_pretrained loads a full-width (m_channels 32) checkpoint written by
the same writer back with identical weights and outputs (so the file layout is the hub's), and
the fixture model gives embeddings that differ between speakers (not bias-dominated).

Usage: .cache/venv-vad/bin/python tools/gen_wespeaker_fixtures.py [--data ../shared/data]
       [--out tests/fixtures] [--width 8]
"""
import argparse
import os
import sys
import tempfile

import lightning
import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

import pyannote.audio  # noqa: E402
from pyannote.audio.core.model import Model  # noqa: E402
from pyannote.audio.core.task import Problem, Resolution, Specifications  # noqa: E402
from pyannote.audio.models.embedding.wespeaker import WeSpeakerResNet34  # noqa: E402
from pyannote.audio.models.embedding.wespeaker.resnet import BasicBlock, ResNet  # noqa: E402
from pyannote.audio.models.segmentation import PyanNet  # noqa: E402

SR = 16000
CHUNK = 10 * SR
FIXTURE_WIDTH = 8


def load(path):
    """s16 / 32768 as src/io/audio.c (FFmpeg's flt -> s16: lrintf(x * 32768), clipped)."""
    info = sf.info(path)
    assert info.samplerate == SR and info.channels == 1, path
    if info.subtype == "PCM_16":
        pcm = sf.read(path, dtype="int16")[0]
    else:
        x = sf.read(path, dtype="float32")[0]
        pcm = np.clip(np.rint(x * np.float32(32768.0)), -32768, 32767).astype(np.int16)
    return pcm.astype(np.float32) / np.float32(32768.0)


def randomize(model, gen):
    """Default (Kaiming-uniform) conv/linear init drawn from gen; random BN statistics."""
    for mod in model.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = mod.weight[0].numel()
            bound = 1.0 / np.sqrt(fan_in)
            with torch.no_grad():
                mod.weight.copy_((torch.rand(mod.weight.shape, generator=gen) * 2 - 1) *
                                 bound * np.sqrt(3.0))
                if mod.bias is not None:
                    mod.bias.copy_((torch.rand(mod.bias.shape, generator=gen) * 2 - 1) * 0.1)
        elif isinstance(mod, torch.nn.BatchNorm2d):
            c = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(0.5 + torch.rand(c, generator=gen))
                mod.bias.copy_(0.2 * torch.randn(c, generator=gen))
                mod.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                mod.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
                mod.num_batches_tracked.fill_(1000)


def wespeaker(width, seed):
    model = WeSpeakerResNet34()
    if width != 32:
        model.resnet = ResNet(BasicBlock, [3, 4, 6, 3], m_channels=width,
                              feat_dim=model.hparams.num_mel_bins, embed_dim=256,
                              pooling_func="TSTP", two_emb_layer=False)
    model.specifications = Specifications(problem=Problem.REPRESENTATION,
                                          resolution=Resolution.CHUNK, duration=10.0)
    randomize(model, torch.Generator().manual_seed(seed))
    return model.eval()


def save_checkpoint(model, path):
    """What Model.from_pretrained reads: Lightning's keys plus on_save_checkpoint's block."""
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)


def check_round_trip():
    model = wespeaker(32, 7)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pytorch_model.bin")
        save_checkpoint(model, path)
        back = Model.from_pretrained(path).eval()
    assert type(back) is WeSpeakerResNet34
    for (k, v), (k2, v2) in zip(model.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    x = torch.randn(2, 1, 3 * SR, generator=torch.Generator().manual_seed(3)) * 0.1
    with torch.inference_mode():
        assert torch.equal(model(x), back(x))
    print("Model.from_pretrained round trip of a full-width checkpoint: identical")


def runs_mask(gen, n_frames, p_on):
    """Binary runs of random lengths (5..120 frames), each on with probability p_on."""
    mask = np.zeros(n_frames, np.float32)
    t = 0
    while t < n_frames:
        length = int(gen.integers(5, 121))
        if gen.random() < p_on:
            mask[t:t + length] = 1.0
        t += length
    return mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../tests/fixtures"))
    ap.add_argument("--width", type=int, default=FIXTURE_WIDTH,
                    help="ResNet channel width (32: the real model's, a 26 MB checkpoint to "
                         "run tests/test_wespeaker.c on by hand with WX_FIXTURE_DIR)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    check_round_trip()

    model = wespeaker(args.width, 2024)
    save_checkpoint(model, os.path.join(args.out, "wespeaker_random.bin"))

    other = PyanNet(lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True,
                          "monolithic": True, "dropout": 0.0},
                    linear={"hidden_size": 16, "num_layers": 1})
    other.specifications = Specifications(problem=Problem.MULTI_LABEL_CLASSIFICATION,
                                          resolution=Resolution.FRAME, duration=10.0,
                                          classes=["speech"])
    other.build()
    save_checkpoint(other, os.path.join(args.out, "wespeaker_other.bin"))

    sample, dev00, tst00 = (load(os.path.join(args.data, f)) for f in
                            ("sample.wav", "dev00.wav", "tst00.wav"))
    clips = {"sample": (sample, 2 * SR), "dev00": (dev00, 20 * SR), "tst00": (tst00, 17 * SR)}
    arrays = {"version": pyannote.audio.__version__}
    for name, (wav, start) in clips.items():
        arrays[f"{name}.start"] = np.array([start], np.int32)
        arrays[f"{name}.sum"] = repr(float(np.sum(wav[start:start + CHUNK].astype(np.float64))))

    chunks = torch.from_numpy(np.stack([w[s:s + CHUNK] for w, s in clips.values()]))[:, None]
    with torch.inference_mode():
        fbank = model.compute_fbank(chunks)
        fbank64 = model.compute_fbank(chunks.double())
    frames = np.array(list(range(0, fbank.shape[1], 10)) + [fbank.shape[1] - 1], np.int32)
    arrays["fbank.frames"] = frames
    arrays["fbank.n_frames"] = np.array([fbank.shape[1]], np.int32)
    for i, name in enumerate(("sample", "dev00")):
        arrays[f"fbank.{name}"] = fbank[i, frames].numpy()
        arrays[f"fbank64.{name}"] = fbank64[i, frames].numpy()

    gen = np.random.default_rng(11)
    masks = np.stack([np.stack([runs_mask(gen, 589, 0.5) for _ in range(3)]) for _ in range(3)])
    masks[1, 2] = 0.0        # a speaker silent in the whole chunk
    masks[2, 0] = 1.0        # one speaking throughout
    with torch.inference_mode():
        emb = model(chunks, weights=torch.from_numpy(masks)).numpy()
    arrays["embed.masks"] = masks
    arrays["embed.out"] = emb

    odd_n = 85931
    odd_start = 5 * SR
    odd = torch.from_numpy(dev00[odd_start:odd_start + odd_n].copy())[None, None]
    odd_masks = np.stack([runs_mask(gen, 317, 0.6), runs_mask(gen, 317, 0.6)])[None]
    with torch.inference_mode():
        odd_emb = model(odd, weights=torch.from_numpy(odd_masks)).numpy()
    arrays["odd.start"] = np.array([odd_start], np.int32)
    arrays["odd.n"] = np.array([odd_n], np.int32)
    arrays["odd.masks"] = odd_masks
    arrays["odd.out"] = odd_emb

    flat = emb.reshape(-1, emb.shape[-1])
    spread = np.linalg.norm(flat - flat.mean(0), axis=1) / np.linalg.norm(flat, axis=1)
    print("embedding norms", np.linalg.norm(flat, axis=1).round(3),
          "relative spread", spread.round(3))
    assert np.all(np.isfinite(emb)) and np.all(np.isfinite(odd_emb))
    write_fixture(os.path.join(args.out, "wespeaker.fix"), arrays)
    for f in ("wespeaker_random.bin", "wespeaker_other.bin", "wespeaker.fix"):
        print(f, os.path.getsize(os.path.join(args.out, f)), "bytes")


if __name__ == "__main__":
    main()
