"""One command line for the generators: a subcommand each, with its own options, generating into the folder a
config would generate into."""

import subprocess
import sys

import pytest

from stcnbuf.lab.synthetic.__main__ import GENERATORS, main
from stcnbuf.lab.synthetic.default import SyntheticConfig
from stcnbuf.lab.synthetic.long import LongSyntheticConfig, ensure_long_dataset
from tests.conftest import REPO


def test_default(tmp_path, capsys):
    config = SyntheticConfig(seed=3, height=64, width=96, train_sequences=2, train_frames=8, val_sequences=1,
                             val_frames=6, long_sequences=1, long_frames=12, max_objects=3)
    args = ["default", "--root", str(tmp_path)]
    for name, value in config.as_dict().items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    assert main(args) == 0
    path = tmp_path / f"synthetic-{config.key()}"
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(path)
    assert (path / "ImageSets/2017/long.txt").read_text() == "long_000\n"


def test_transfer(tmp_path, capsys):
    args = ["transfer", "--root", str(tmp_path), "--height", "72", "--width", "128", "--num-sequences", "1",
            "--frames", "3"]
    assert main(args) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    assert path.startswith(str(tmp_path / "synthetic_transfer-"))
    assert (tmp_path / path.split("/")[-1] / "ImageSets/2017/val.txt").read_text() == "transfer_000\n"


def test_long(tmp_path, capsys):
    args = ["long", "--root", str(tmp_path), "--height", "64", "--width", "96", "--frames", "200", "--absence", "60"]
    assert main(args) == 0
    config = LongSyntheticConfig(height=64, width=96, frames=(200,), absence=60)
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(ensure_long_dataset(config, tmp_path))


#: a parameter of each generator that the others lack
OWN = {"default": "--train-sequences", "transfer": "--num-sequences", "long": "--absence"}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_each_subcommand_lists_its_own_parameters(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert all(option in text for option in ("--root", "--seed", "--height", OWN[name]))
    assert not any(option in text for other, option in OWN.items() if other != name)


def test_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "stcnbuf.lab.synthetic", "--help"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0 and "{default,transfer,long}" in done.stdout
