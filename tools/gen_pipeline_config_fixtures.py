"""gen_pipeline_config_fixtures.py — what pyannote.audio makes of the two pipeline config.yaml
files in tests/data/pipelines/, for tests/test_pipeline_config.c: each file loaded with
yaml.SafeLoader as Pipeline.from_pretrained loads it, "$model/..." references expanded by
pyannote's own expand_subfolders (model_id "PIPELINE"), "version" turned into dependencies as
from_pretrained does, written as JSON text entries (one per file) into
tests/fixtures/pipeline_config.fix.

Run in the reference venv (pyannote.audio 4.0.7, PyYAML):
    /work/main/.cache/venv-vad/bin/python tools/gen_pipeline_config_fixtures.py
"""
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from fixture import write_fixture  # noqa: E402
from pyannote.audio.core.pipeline import expand_subfolders  # noqa: E402

FILES = ["community-1", "speaker-diarization-3.1"]


def pyannote_view(path):
    with open(path) as f:
        config = yaml.load(f, Loader=yaml.SafeLoader)
    expand_subfolders(config, "PIPELINE")
    if "version" in config:  # from_pretrained's 3.x compatibility
        config["dependencies"] = {"pyannote.audio": config.pop("version")}
    return config


def main():
    arrays = {}
    for name in FILES:
        config = pyannote_view(os.path.join(ROOT, "tests", "data", "pipelines", name + ".yaml"))
        arrays[name] = json.dumps(config, sort_keys=True)
        print(name, arrays[name])
    out = os.path.join(ROOT, "tests", "fixtures", "pipeline_config.fix")
    write_fixture(out, arrays)
    print("wrote", out)


if __name__ == "__main__":
    main()
