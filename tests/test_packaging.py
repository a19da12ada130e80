"""The package as users install it: every package listed, configs inside the wheel, console scripts that run
outside the repository."""

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, moving_squares


def test_every_package_is_listed_for_the_wheel():
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = {str(p.parent.relative_to(REPO)).replace("/", ".") for p in (REPO / "stcnbuf").rglob("__init__.py")}
    assert sorted(listed) == sorted(found | {"stcnbuf.configs"})


def _run(command, cwd):
    env = {k: v for k, v in os.environ.items() if k != "STCNBUF_ROOT"}  # the folders of the working directory
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_a_wheel_installed_outside_the_repository_segments_and_evaluates(tmp_path, tiny_checkpoint):
    import cv2

    from stcnbuf.io.masks import write_label_png

    source = tmp_path / "source"  # a copy: building writes build/ beside the sources
    local = {"data", "logs", "weights", "build", "dist", "bench_results"}  # this checkout's own folders
    shutil.copytree(REPO, source, ignore=lambda folder, names: [
        n for n in names if n.startswith(".") or n == "__pycache__" or n.endswith(".egg-info")
        or (Path(folder) == REPO and n in local)])
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
          source], tmp_path)
    wheel = next((tmp_path / "dist").glob("stcnbuf-*.whl"))
    shipped = {n[len("stcnbuf/configs/"):] for n in zipfile.ZipFile(wheel).namelist() if n.startswith("stcnbuf/configs/")}
    assert {str(p.relative_to(REPO / "configs")) for p in (REPO / "configs").rglob("*.yaml")} <= shipped
    assert "stcnbuf/training/subsets/stcn_youtubevos_train.txt" in zipfile.ZipFile(wheel).namelist()  # STCN's lists
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    purelib = Path(subprocess.check_output([venv / "bin" / "python", "-c",
                                            "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch etc. of this venv
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps", wheel],
         tmp_path)
    where = _run([venv / "bin" / "python", "-c", "import stcnbuf, stcnbuf.configs; print(stcnbuf.__file__); "
                  "print(stcnbuf.__version__)"], tmp_path).stdout.split()
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert where[0].startswith(str(purelib)) and where[1] == version  # the installed copy, not the checkout

    work = tmp_path / "work"
    (work / "video").mkdir(parents=True)
    frames, labels = moving_squares(num_frames=6)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(work / "video" / f"{t:05d}.jpg"), frame[..., ::-1])
    write_label_png(work / "init.png", labels[0])
    _run([venv / "bin" / "stcnbuf-segment", "video=video", "init.mask=init.png", "init.frame=0",
          f"model.checkpoint={tiny_checkpoint}", "reader.shorter_side=null", "output_dir=seg"], work)
    assert (work / "seg" / "masks.rle.jsonl").is_file() and (work / "seg" / "overlay.mp4").is_file()
    assert (work / "seg" / "segment.log").is_file() and (work / "seg" / ".hydra" / "overrides.yaml").is_file()
    done = _run([venv / "bin" / "stcnbuf-eval", f"model.checkpoint={tiny_checkpoint}", "data.height=48",
                 "data.width=80", "data.train_sequences=1", "data.train_frames=4", "data.val_sequences=2",
                 "data.val_frames=6", "data.long_sequences=1", "data.long_frames=6", "logger=none", "workers=1"], work)
    assert "J&F" in done.stdout
    assert list((work / "data").glob("synthetic-*")) and list((work / "logs" / "eval" / "runs").glob("*/metrics.json"))
    predictions = next((work / "logs" / "eval" / "runs").glob("*/predictions"))
    _run([venv / "bin" / "stcnbuf-score", "--pred-root", predictions, "--out", work / "scores", "data=synthetic",
          "data.height=48", "data.width=80", "data.train_sequences=1", "data.train_frames=4", "data.val_sequences=2",
          "data.val_frames=6", "data.long_sequences=1", "data.long_frames=6"], work)
    assert (work / "scores" / "global_results-val.csv").read_bytes() == \
        (predictions.parent / "global_results-val.csv").read_bytes()   # the installed scorer, eval.py's tables
    _run([venv / "bin" / "stcnbuf-postprocess", work / "seg" / "masks.rle.jsonl", work / "clean.rle.jsonl",
          "--close", "1"], work)
