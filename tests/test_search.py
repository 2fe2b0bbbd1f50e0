"""Make it smile: the style-space search, its CLI, and what it promises about the path."""

from __future__ import annotations

import numpy as np
import pytest

from emosketch.errors import EmosketchError
from emosketch.evaluate.classifier import load_classifier, predict
from emosketch.interpolate.render import Renderer
from emosketch.interpolate.search import SearchConfig, search
from emosketch.models import default_generator, default_sketch_classifier, demo_photo


@pytest.fixture(scope="module")
def parts():
    renderer = Renderer(default_generator(), "cpu")
    guide, state = load_classifier(default_sketch_classifier())
    face = renderer.source(image=demo_photo())
    return renderer, guide, int(state["image_size"]), face


def test_the_path_goes_to_the_targets_code_then_climbs_the_guide(parts):
    renderer, guide, size, face = parts
    x = np.stack([face.sketch, 255 - np.zeros_like(face.sketch)])  # the photo's sketch, and blank paper
    cfg = SearchConfig(steps=8, approach=4, stop_at=0.99)
    res = search(renderer, guide, size, x, ["surprise", "happy"], cfg)
    assert res.frames.shape == (4 + 8 + 1, 2, renderer.size, renderer.size) and res.climb_from == 4
    # frame 0 is the start (neutral's code), frame climb_from the target's own code: what pack draws
    neutral = renderer.render(face, renderer.bank.codes(0)[[renderer.classes.index("neutral")]])[0]
    own = renderer.render(face, renderer.bank.codes(0)[[renderer.classes.index("surprise")]])[0]
    assert np.abs(res.frames[0, 0].astype(int) - neutral).max() <= 1
    assert np.abs(res.frames[4, 0].astype(int) - own).max() <= 1
    # the guide's reading of the target rises along the climb, and the stored readings are the guide's
    p = res.target_p[:, 0]
    assert p[-1] > p[4]
    again = predict(guide, res.frames[-1], size)[:, renderer.classes.index("surprise")]
    assert again[0] == pytest.approx(p[-1], abs=0.05)
    assert res.reached[0] == (res.probabilities[0].argmax() == renderer.classes.index("surprise"))


def test_a_face_that_arrives_stops_and_holds_its_frame(parts):
    renderer, guide, size, face = parts
    res = search(renderer, guide, size, face.sketch[None], ["happy"], SearchConfig(steps=10, stop_at=0.05))
    held = res.frames[res.climb_from:, 0]
    assert all(np.array_equal(f, held[0]) for f in held)  # the target's own code already reads at 0.05


def test_bad_requests_are_one_line(parts):
    renderer, guide, size, face = parts
    with pytest.raises(EmosketchError, match="not one of the model's"):
        search(renderer, guide, size, face.sketch[None], ["boredom"])
    with pytest.raises(EmosketchError, match="1 faces but 2 targets"):
        search(renderer, guide, size, face.sketch[None], ["happy", "sad"])
    with pytest.raises(EmosketchError, match="search: steps"):
        SearchConfig(steps=-1)


def test_search_cli_writes_the_path(tmp_path):
    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.frames import read_frames

    out = tmp_path / "path.npz"
    r = CliRunner().invoke(cli, ["search", "--target", "happy", "--input", str(demo_photo()), "--steps", "3",
                                 "--out", str(out), "--out", str(tmp_path / "path.gif")])
    assert r.exit_code == 0, r.output
    assert "happy read at p" in r.output and ("reached" in r.output)
    frames = read_frames(out)
    assert len(frames.frames) == SearchConfig.approach + 4 and [m["step"] for m in frames.marks] == list(range(12))
    assert (tmp_path / "path.gif").stat().st_size > 1000
    r = CliRunner().invoke(cli, ["search", "--target", "happy", "--out", str(out)])
    assert r.exit_code != 0 and "give the face" in r.output
    r = CliRunner().invoke(cli, ["search", "--target", "happy", "--input", str(demo_photo()), "--out", str(out),
                                 "--classifier", str(default_generator())])
    assert r.exit_code != 0 and "classifier" in r.output
