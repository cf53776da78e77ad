#!/usr/bin/env python3
"""bake_hub.py — fetches the model-hub models an image bakes into MODELS_DIR (Python standard
library only; runs in Dockerfile.base's builder stage, never in the final image).

    python3 builder/bake_hub.py MODELS_DIR RECORDS.jsonl

What it fetches comes from the environment (Dockerfile.base's build args):
  WHISPER_MODELS   faster-whisper names ("large-v3 tiny.en"), mapped to repos as
                   faster_whisper/utils.py _MODELS does; each into MODELS_DIR/<name>/
  ALIGN_LANGUAGES  language codes; WhisperX 3.8.6's wav2vec2 model for each
                   (whisperx/alignment.py): a torchaudio bundle into align/<BUNDLE>.pth, or a
                   hub repo into align/<org>/<repo>/
  DIARIZATION      auto: pyannote 3.1's ungated WeSpeaker ResNet34, and community-1 when a
                   token is given; open / none: nothing from the hub
  HF_ENDPOINT      the hub (default https://huggingface.co); the token goes to it alone
  TORCHAUDIO_MODELS_URL  where torchaudio's bundles live
                   (default https://download.pytorch.org/torchaudio/models)
  WX_HF_TOKEN_FILE a file holding the hub token (Dockerfile.base: the BuildKit secret
                   /run/secrets/hf_token); the token is never printed nor recorded

Each model baked appends one JSON line to RECORDS ({"name", "kind", "path", "source",
"revision", "licence"}); each model left out appends {"left_out": name, "why"}.
builder/write_manifest.py turns the records into MODELS_DIR/manifest.json.
"""
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

# faster_whisper 1.2 utils.py _MODELS.
WHISPER_REPOS = {
    "tiny.en": "Systran/faster-whisper-tiny.en", "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en", "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en", "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en", "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1", "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3", "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}

# whisperx 3.8.6 alignment.py DEFAULT_ALIGN_MODELS_TORCH, with torchaudio 2.8.0's file
# (pipelines/_wav2vec2/impl.py) and licence (the bundle's documentation) for each bundle.
ALIGN_TORCH = {
    "en": ("WAV2VEC2_ASR_BASE_960H", "wav2vec2_fairseq_base_ls960_asr_ls960.pth", "MIT"),
    "fr": ("VOXPOPULI_ASR_BASE_10K_FR", "wav2vec2_voxpopuli_base_10k_asr_fr.pt", "CC-BY-NC-4.0"),
    "de": ("VOXPOPULI_ASR_BASE_10K_DE", "wav2vec2_voxpopuli_base_10k_asr_de.pt", "CC-BY-NC-4.0"),
    "es": ("VOXPOPULI_ASR_BASE_10K_ES", "wav2vec2_voxpopuli_base_10k_asr_es.pt", "CC-BY-NC-4.0"),
    "it": ("VOXPOPULI_ASR_BASE_10K_IT", "wav2vec2_voxpopuli_base_10k_asr_it.pt", "CC-BY-NC-4.0"),
}
# whisperx 3.8.6 alignment.py DEFAULT_ALIGN_MODELS_HF.
ALIGN_HF = {
    "ja": "jonatasgrosman/wav2vec2-large-xlsr-53-japanese",
    "zh": "jonatasgrosman/wav2vec2-large-xlsr-53-chinese-zh-cn",
    "nl": "jonatasgrosman/wav2vec2-large-xlsr-53-dutch",
    "uk": "Yehor/wav2vec2-xls-r-300m-uk-with-small-lm",
    "pt": "jonatasgrosman/wav2vec2-large-xlsr-53-portuguese",
    "ar": "jonatasgrosman/wav2vec2-large-xlsr-53-arabic",
    "cs": "comodoro/wav2vec2-xls-r-300m-cs-250",
    "ru": "jonatasgrosman/wav2vec2-large-xlsr-53-russian",
    "pl": "jonatasgrosman/wav2vec2-large-xlsr-53-polish",
    "hu": "jonatasgrosman/wav2vec2-large-xlsr-53-hungarian",
    "fi": "jonatasgrosman/wav2vec2-large-xlsr-53-finnish",
    "fa": "jonatasgrosman/wav2vec2-large-xlsr-53-persian",
    "el": "jonatasgrosman/wav2vec2-large-xlsr-53-greek",
    "tr": "mpoyraz/wav2vec2-xls-r-300m-cv7-turkish",
    "da": "saattrupdan/wav2vec2-xls-r-300m-ftspeech",
    "he": "imvladikon/wav2vec2-xls-r-300m-hebrew",
    "vi": "nguyenvulebinh/wav2vec2-base-vi-vlsp2020",
    "ko": "kresnik/wav2vec2-large-xlsr-korean",
    "ur": "kingabzpro/wav2vec2-large-xls-r-300m-Urdu",
    "te": "anuragshas/wav2vec2-large-xlsr-53-telugu",
    "hi": "theainerd/Wav2Vec2-large-xlsr-hindi",
    "ca": "softcatala/wav2vec2-large-xlsr-catala",
    "ml": "gvs/wav2vec2-large-xlsr-malayalam",
    "no": "NbAiLab/nb-wav2vec2-1b-bokmaal-v2",
    "nn": "NbAiLab/nb-wav2vec2-1b-nynorsk",
    "sk": "comodoro/wav2vec2-xls-r-300m-sk-cv8",
    "sl": "anton-l/wav2vec2-large-xlsr-53-slovenian",
    "hr": "classla/wav2vec2-xls-r-parlaspeech-hr",
    "ro": "gigant/romanian-wav2vec2",
    "eu": "stefan-it/wav2vec2-large-xlsr-53-basque",
    "gl": "ifrz/wav2vec2-large-xlsr-galician",
    "ka": "xsway/wav2vec2-large-xlsr-georgian",
    "lv": "jimregan/wav2vec2-large-xlsr-latvian-cv",
    "tl": "Khalsuu/filipino-wav2vec2-l-xls-r-300m-official",
    "sv": "KBLab/wav2vec2-large-voxrex-swedish",
    "id": "cahya/wav2vec2-large-xlsr-indonesian",
}

# Files per repo kind: (required groups, optional files). A group is a list of alternatives,
# the first one the hub has is taken.
WHISPER_FILES = ([["model.bin"], ["config.json"], ["tokenizer.json", "vocabulary.json", "vocabulary.txt"]],
                 ["preprocessor_config.json", "README.md"])
WAV2VEC2_FILES = ([["config.json"], ["model.safetensors", "pytorch_model.bin"], ["vocab.json"]],
                  ["preprocessor_config.json", "tokenizer_config.json", "special_tokens_map.json",
                   "README.md"])
WESPEAKER_REPO = "pyannote/wespeaker-voxceleb-resnet34-LM"
WESPEAKER_FILES = ([["pytorch_model.bin"]], ["config.yaml", "README.md"])
COMMUNITY1_REPO = "pyannote/speaker-diarization-community-1"
COMMUNITY1_FILES = ([["config.yaml"], ["segmentation/pytorch_model.bin"],
                     ["embedding/pytorch_model.bin"], ["plda/plda.npz"], ["plda/xvec_transform.npz"]],
                    ["README.md", "plda/README.md"])


class FetchError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Hub:
    """Resolve URLs of one hub; the token is sent to the hub's own origin only (a redirect to a
    CDN on another origin drops it)."""

    def __init__(self, endpoint, token):
        self.endpoint = endpoint.rstrip("/")
        self.origin = origin(self.endpoint)
        self.token = token

    def opener(self, seen):
        hub = self

        class Redirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, req, fp, code, msg, headers, newurl):
                seen.setdefault("commit", headers.get("X-Repo-Commit"))
                seen.setdefault("sha256", (headers.get("X-Linked-Etag") or "").strip('"') or None)
                new = super().redirect_request(req, fp, code, msg, headers, newurl)
                if new is not None and hub.token and origin(newurl) == hub.origin:
                    new.add_unredirected_header("Authorization", "Bearer " + hub.token)
                return new

        return urllib.request.build_opener(Redirect)

    def download(self, url, dest, send_token):
        """Streams url into dest; returns {"commit", "sha256"} from the hub's headers."""
        seen = {}
        req = urllib.request.Request(url, headers={"User-Agent": "whisperx-worker-builder/1"})
        if send_token and self.token:
            req.add_unredirected_header("Authorization", "Bearer " + self.token)
        try:
            with self.opener(seen).open(req, timeout=60) as resp:
                seen.setdefault("commit", resp.headers.get("X-Repo-Commit"))
                write_stream(resp, dest)
        except urllib.error.HTTPError as e:
            code = e.headers.get("X-Error-Code", "") if e.headers else ""
            hint = " (the hub refuses the hf_token secret: is it a valid token?)" \
                if e.code == 401 and send_token and self.token and not code else ""
            raise FetchError(e.code, "%s: HTTP %d %s%s" % (url, e.code, code or e.reason, hint)) from None
        except (urllib.error.URLError, OSError) as e:
            raise FetchError(0, "%s: %s" % (url, e)) from None
        return seen

    def fetch_repo(self, repo, files, dest):
        """Fetches a repo's files (WHISPER_FILES-style spec) into dest; returns the commit."""
        required, optional = files
        commit = None
        for group in required:
            for i, path in enumerate(group):
                try:
                    commit = self.fetch_file(repo, path, dest) or commit
                    break
                except FetchError as e:
                    if e.status != 404 or i == len(group) - 1:
                        raise
        for path in optional:
            try:
                self.fetch_file(repo, path, dest)
            except FetchError as e:
                if e.status != 404:
                    raise
        return commit

    def fetch_file(self, repo, path, dest):
        url = "%s/%s/resolve/main/%s" % (self.endpoint, repo, urllib.parse.quote(path))
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        seen = self.download(url, target, send_token=True)
        if seen.get("sha256") and sha256_of(target) != seen["sha256"]:
            os.unlink(target)
            raise FetchError(0, "%s: the sha256 differs from the hub's X-Linked-Etag" % url)
        print("fetched %s/%s (%d bytes)" % (repo, path, os.path.getsize(target)), file=sys.stderr)
        return seen.get("commit")


def origin(url):
    u = urllib.parse.urlsplit(url)
    return (u.scheme, u.hostname, u.port)


def write_stream(resp, dest):
    tmp = dest + ".partial"
    with open(tmp, "wb") as f:
        while True:
            block = resp.read(1 << 20)
            if not block:
                break
            f.write(block)
    os.replace(tmp, dest)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def card_licence(dest):
    """The licence in the model card's YAML front matter ("license: mit"), else "unknown"."""
    card = os.path.join(dest, "README.md")
    if not os.path.isfile(card):
        return "unknown (no model card)"
    with open(card, encoding="utf-8", errors="replace") as f:
        text = f.read(20000)
    m = re.match(r"---\s*\n(.*?)\n---", text, re.S)
    found = re.search(r"^license:\s*(\S+)", m.group(1), re.M) if m else None
    return found.group(1) if found else "unknown (the model card names none)"


def words(name, default):
    return os.environ.get(name, default).split()


class Baker:
    def __init__(self, models_dir, records_path, hub):
        self.models = models_dir
        self.records = open(records_path, "a", encoding="utf-8")
        self.hub = hub

    def record(self, **entry):
        self.records.write(json.dumps(entry) + "\n")
        self.records.flush()

    def left_out(self, name, why):
        print("LEFT OUT: %s: %s" % (name, why), file=sys.stderr)
        self.record(left_out=name, why=why)

    def repo(self, name, kind, repo, files, rel):
        dest = os.path.join(self.models, rel)
        partial = dest + ".partial"
        os.makedirs(partial, exist_ok=True)
        commit = self.hub.fetch_repo(repo, files, partial)
        if os.path.isdir(dest):
            raise SystemExit("bake_hub: %s is already there (two names for one model?)" % dest)
        os.replace(partial, dest)
        self.record(name=name, kind=kind, path=rel, source="hf:" + repo,
                    revision=commit or "unknown", licence=card_licence(dest))

    def whisper(self, name):
        if name not in WHISPER_REPOS:
            raise SystemExit("bake_hub: unknown Whisper model %r (faster-whisper names: %s)"
                             % (name, ", ".join(sorted(WHISPER_REPOS))))
        self.repo(name, "whisper", WHISPER_REPOS[name], WHISPER_FILES, name)

    def align(self, language):
        if language in ALIGN_TORCH:
            bundle, filename, licence = ALIGN_TORCH[language]
            base = os.environ.get("TORCHAUDIO_MODELS_URL",
                                  "https://download.pytorch.org/torchaudio/models").rstrip("/")
            rel = "align/%s.pth" % bundle
            dest = os.path.join(self.models, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            self.hub.download(base + "/" + filename, dest, send_token=False)
            print("fetched %s (%d bytes)" % (filename, os.path.getsize(dest)), file=sys.stderr)
            self.record(name=bundle, kind="align", path=rel, source="torchaudio:" + filename,
                        revision="sha256:" + sha256_of(dest), licence=licence)
        elif language in ALIGN_HF:
            repo = ALIGN_HF[language]
            self.repo(repo, "align", repo, WAV2VEC2_FILES, "align/" + repo)
        else:
            raise SystemExit("bake_hub: WhisperX has no alignment model for language %r (known: %s)"
                             % (language, " ".join(sorted(list(ALIGN_TORCH) + list(ALIGN_HF)))))

    def diarization(self, mode):
        if mode != "auto":
            return
        self.repo(WESPEAKER_REPO, "embedding", WESPEAKER_REPO, WESPEAKER_FILES, WESPEAKER_REPO)
        if not self.hub.token:
            self.left_out(COMMUNITY1_REPO, "gated: no hf_token secret was given to the build "
                          "(docker build --secret id=hf_token,env=HF_TOKEN ...)")
            return
        try:
            self.repo(COMMUNITY1_REPO, "diarization", COMMUNITY1_REPO, COMMUNITY1_FILES,
                      COMMUNITY1_REPO)
        except FetchError as e:
            if e.status in (401, 403):
                raise SystemExit("bake_hub: the hf_token secret cannot read %s (%s): accept its "
                                 "conditions on %s/%s with the token's account, or build "
                                 "without the secret" % (COMMUNITY1_REPO, e, self.hub.endpoint,
                                                         COMMUNITY1_REPO))
            raise


def read_token():
    path = os.environ.get("WX_HF_TOKEN_FILE", "")
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
        return token or None
    return None


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: bake_hub.py MODELS_DIR RECORDS.jsonl")
    mode = os.environ.get("DIARIZATION", "auto")
    if mode not in ("auto", "open", "none"):
        raise SystemExit("bake_hub: DIARIZATION=%r: use auto, open or none" % mode)
    hub = Hub(os.environ.get("HF_ENDPOINT") or "https://huggingface.co", read_token())
    baker = Baker(sys.argv[1], sys.argv[2], hub)
    try:
        for name in words("WHISPER_MODELS", "large-v3"):
            baker.whisper(name)
        for language in words("ALIGN_LANGUAGES", "en"):
            baker.align(language)
        baker.diarization(mode)
    except FetchError as e:
        raise SystemExit("bake_hub: %s" % e)


if __name__ == "__main__":
    main()
