"""benchmarks/facecrop.py: the upright search's counts and costs, with and without it, on pictures it builds."""

from __future__ import annotations

import pytest

from emosketch.datasets.face import FaceConfig


@pytest.fixture(scope="module")
def bench():
    from conftest import benchmark_module

    yield from benchmark_module("facecrop.py", "facecrop_bench")


def test_the_search_finds_the_tilted_heads_the_cascade_misses_and_no_face_where_there_is_none(bench):
    pictures = bench.tilted_pictures(turns=(0, -25, 25)) + bench.faceless_pictures(4)
    plain, search = bench.compare("test", pictures, FaceConfig(margin=0.1).for_photos())
    assert plain["crop"] == "without the search" and search["crop"] == "upright search (default)"
    assert plain["cascade"] == 1 and plain["whole picture"] == 6 and plain["crops_changed"] == 0
    assert search["cascade"] == 1 and search["turned"] == 2 and search["whole picture"] == 4
    assert search["crops_changed"] == 2 and search["pictures"] == 7 and search["ms_p95"] > 0


def test_kind_names_each_way_a_face_is_found(bench):
    assert [bench.kind(h) for h in ("haar", "haar, upright", "haar, upright (turned +20 deg)", "whole")] == [
        "cascade", "in the border", "turned", "whole picture"]
