"""Atomic writes: results are whole or absent, and unwritable folders say so."""

import json
import math

import numpy as np
import pytest

from jaxopt_course.files import atomic_save_npz, atomic_write_json, ensure_dir, read_json, to_jsonable


def test_json_roundtrip_with_arrays_and_nan(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "metrics.json",
                             {"loss": np.array([1.0, math.nan]), "acc": np.float32(0.5), "n": np.int64(3)})
    assert read_json(path) == {"loss": [1.0, None], "acc": 0.5, "n": 3}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary left


def test_failed_write_keeps_the_old_file(tmp_path):
    path = atomic_write_json(tmp_path / "m.json", {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_npz_roundtrip(tmp_path):
    path = atomic_save_npz(tmp_path / "c.npz", W=np.ones((2, 3)), step=np.int32(7))
    with np.load(path) as z:
        assert z["W"].shape == (2, 3) and int(z["step"]) == 7


def test_unwritable_results_folder(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="cannot be written"):
        ensure_dir(blocker / "results")


def test_to_jsonable_nested():
    assert to_jsonable({"a": (np.arange(2), {"b": np.bool_(True)})}) == {"a": [[0, 1], {"b": True}]}
