"""worker_test_util.py — what the runtime's Python tests share: the repository root, a check()
that records failures instead of stopping, and jfk.wav clips as WAV bytes or data URIs."""
import base64
import io
import os
import sys
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JFK = os.path.join(ROOT, "tests", "data", "jfk.wav")
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("CHECK failed: " + what, file=sys.stderr)


def wav_bytes(seconds):
    """The first `seconds` of jfk.wav as a WAV file in memory."""
    with wave.open(JFK, "rb") as src:
        frames = src.readframes(int(src.getframerate() * seconds))
        params = src.getparams()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as dst:
        dst.setparams(params)
        dst.writeframes(frames)
    return buf.getvalue()


def data_uri(seconds):
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(seconds)).decode()
