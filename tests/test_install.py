"""An installed package (a wheel, `pip install .`) works away from a checkout: every file the commands and the
docs name ships as package data, the docs' `configs/...` examples resolve from any folder, `emosketch files`
says where things are, and the optional LPIPS part is optional."""

from __future__ import annotations

import configparser
import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from emosketch import __version__
from emosketch.cli import FILES, cli, file_paths
from emosketch.config import SHIPPED, shipped_config
from emosketch.errors import EmosketchError

PACKAGE = ROOT / "emosketch"


def package_data() -> list[str]:
    """setup.cfg's package_data globs, as paths under the emosketch package."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    globs = []
    for package, patterns in cfg["options.package_data"].items():
        base = package.replace(".", "/")[len("emosketch"):].strip("/")
        globs += [f"{base}/{p.strip()}".strip("/") for p in patterns.split(",") if p.strip()]
    return globs


def shipped(path: Path) -> bool:
    """Whether a file under the package ends up in the wheel: a module, or package data."""
    rel = path.relative_to(PACKAGE).as_posix()
    return path.suffix == ".py" or any(fnmatch.fnmatch(rel, g) for g in package_data())


def test_every_file_the_files_command_names_ships_in_the_wheel():
    paths = file_paths()
    assert set(paths) == set(FILES)
    for name, path in paths.items():
        assert path.is_relative_to(PACKAGE), (name, path)  # inside the package, never the checkout around it
        files = [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] if path.is_dir() else [path]
        assert files, name
        unshipped = [str(p.relative_to(PACKAGE)) for p in files if not shipped(p)]
        assert not unshipped, (name, unshipped)


def test_the_demos_configs_ship_in_the_package_and_the_checkouts_configs_link_to_them():
    for name in ("agent-demo.yaml", "timeline-demo.yaml", "train-tiny-cpu.yaml", "prepare-synthetic-64.yaml"):
        assert shipped(SHIPPED / name)
        assert (ROOT / "configs" / name).resolve() == (SHIPPED / name).resolve()


def test_every_config_a_shipped_config_names_ships_too():
    """train-tiny-cpu.yaml's first line names the prepare config to run before it: it shipped without it."""
    import re

    for path in SHIPPED.glob("*.yaml"):
        for named in re.findall(r"configs/([\w.-]+\.yaml)", path.read_text()):
            assert (SHIPPED / named).is_file(), (path.name, named)


def test_a_config_the_docs_name_is_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shipped_config(Path("configs/agent-demo.yaml")) == SHIPPED / "agent-demo.yaml"
    assert shipped_config(Path("timeline-demo.yaml")) == SHIPPED / "timeline-demo.yaml"
    for other in ("configs/train-ferplus-128.yaml", "runs/agent-demo.yaml", "a/configs/agent-demo.yaml"):
        assert shipped_config(Path(other)) == Path(other)  # not shipped, or not named as the docs do: as given
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "agent-demo.yaml").write_text("fps: 6\n")
    assert shipped_config(Path("configs/agent-demo.yaml")) == Path("configs/agent-demo.yaml")  # the user's own wins


def test_the_agent_runs_the_documented_script_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["agent", "--script", "configs/agent-demo.yaml", "--out", "a.gif"])
    # the script was found and read: what is missing now is the face, not the file
    assert res.exit_code != 0 and "give a face image" in res.output, res.output
    res = CliRunner().invoke(cli, ["agent", "--script", "configs/no-such.yaml", "--input", "x.png", "--out", "a.gif"])
    assert res.exit_code != 0 and "configs/no-such.yaml: no such script file" in res.output, res.output


def test_files_lists_each_place_and_names_one_for_a_shell():
    runner = CliRunner()
    res = runner.invoke(cli, ["files"])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert [line.split()[0] for line in lines] == list(FILES)
    res = runner.invoke(cli, ["files", "demo-photo"])
    assert res.exit_code == 0 and Path(res.output.strip()).is_file()
    assert Path(res.output.strip()).samefile(PACKAGE / "models" / "astronaut.jpg")
    assert runner.invoke(cli, ["files", "nope"]).exit_code == 2


def test_python_dash_m_runs_the_command_line():
    run = subprocess.run([sys.executable, "-m", "emosketch", "--version"], capture_output=True, text=True, check=True)
    assert run.stdout.strip().endswith(__version__)


def test_lpips_is_optional_and_its_absence_is_one_line(monkeypatch):
    from emosketch.evaluate import perceptual

    monkeypatch.setitem(sys.modules, "lpips", None)  # as if the [lpips] extra were not installed
    with pytest.raises(EmosketchError, match=r"emosketch\[lpips\]"):
        perceptual.lpips_model(random_trunk=True)
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    core = cfg["options"]["install_requires"]
    assert "lpips" not in core and "torchvision" not in core  # the newest torchvision would replace the user's torch
    assert "lpips" in cfg["options.extras_require"]["lpips"]
