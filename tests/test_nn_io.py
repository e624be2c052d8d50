"""state_dict / load_state_dict / save / load: bit-exact round trips, and every failure mode
leaves the model unchanged (and a failed save leaves the old file and no stray file)."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn


def bits(state: dict[str, float]) -> dict[str, bytes]:
    return {k: struct.pack("<d", v) for k, v in state.items()}


def make() -> nn.MLP:
    return nn.MLP(2, [3, 1], seed=0)


any_finite = st.floats(allow_nan=False, allow_infinity=False)


@given(values=st.lists(any_finite, min_size=13, max_size=13))
def test_save_load_round_trip_is_bit_exact(values: list[float], tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("io") / "model.json"
    a = make()
    for p, v in zip(a.parameters(), values):
        p.data = v  # includes -0.0, subnormals and the largest floats
    a.save(path)
    b = nn.MLP(2, [3, 1], seed=1)
    b.load(path)
    assert bits(b.state_dict()) == bits(a.state_dict())
    c = nn.MLP(2, [3, 1], seed=2)
    c.load_state_dict(d=a.state_dict())
    assert bits(c.state_dict()) == bits(a.state_dict())


def test_loaded_model_computes_the_same_outputs(tmp_path: Path) -> None:
    a = make()
    a.save(tmp_path / "m.json")
    b = nn.MLP(2, [3, 1], seed=9)
    b.load(tmp_path / "m.json")
    oa, ob = a([0.3, -0.7]), b([0.3, -0.7])
    assert not isinstance(oa, list) and not isinstance(ob, list)
    assert oa.data == ob.data


def test_file_is_json_with_format_tag_and_architecture(tmp_path: Path) -> None:
    make().save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["format"] == nn.FORMAT
    assert doc["architecture"] == {
        "type": "MLP",
        "nin": 2,
        "nouts": [3, 1],
        "activation": "tanh",
        "output_activation": "linear",
    }
    assert list(doc["state"]) == [n for n, _ in make().named_parameters()]
    assert os.listdir(tmp_path) == ["m.json"]


def test_state_dict_is_a_fresh_dict_of_floats() -> None:
    m = make()
    sd = m.state_dict()
    assert all(type(v) is float for v in sd.values())
    sd["layers.0.neurons.0.b"] = 5.0
    assert m.layers[0].neurons[0].b.data == 0.0


# -- load_state_dict failures ------------------------------------------------------------------


def good_state() -> dict[str, Any]:
    return {k: 0.5 for k in make().state_dict()}


def with_(change: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    d = good_state()
    if drop:
        del d[drop]
    d.update(change)
    return d


B = "layers.1.neurons.0.b"
W = "layers.0.neurons.2.w.1"


@pytest.mark.parametrize(
    ("state", "err", "match"),
    [
        (with_({}, drop=B), KeyError, "missing keys.*layers.1.neurons.0.b"),
        (with_({"layers.9.neurons.0.b": 1.0}), KeyError, "unexpected keys.*layers.9"),
        (with_({W: "0.5"}), TypeError, W),
        (with_({W: None}), TypeError, W),
        (with_({W: True}), TypeError, W),
        (with_({W: [0.5]}), TypeError, W),
        (with_({W: math.nan}), ValueError, W),
        (with_({W: math.inf}), ValueError, W),
        (with_({W: -math.inf}), ValueError, W),
        (with_({W: 10**400}), ValueError, W),
        (with_({3: 1.0}), TypeError, "keys must be str"),
        ([("a", 1.0)], TypeError, "mapping"),
    ],
)
def test_load_state_dict_refuses_bad_input_and_leaves_model_unchanged(
    state: Any, err: type[Exception], match: str
) -> None:
    m = make()
    before = bits(m.state_dict())
    with pytest.raises(err, match=match):
        m.load_state_dict(state)
    assert bits(m.state_dict()) == before


def test_non_strict_load_skips_missing_and_unexpected_keys_like_torch() -> None:
    m = make()
    before = m.state_dict()
    res = m.load_state_dict({W: 0.25, "extra": "anything"}, strict=False)
    assert res.missing_keys == [k for k in before if k != W]
    assert res.unexpected_keys == ["extra"]
    after = m.state_dict()
    assert after[W] == 0.25
    assert all(after[k] == before[k] for k in before if k != W)
    with pytest.raises(TypeError, match=W):
        m.load_state_dict({W: "x"}, strict=False)  # loaded values are still checked
    assert m.state_dict() == after


def test_ints_and_numpy_floats_are_accepted() -> None:
    import numpy as np

    m = make()
    m.load_state_dict({k: (1 if i % 2 else np.float64(0.5)) for i, k in enumerate(good_state())})
    assert set(m.state_dict().values()) == {1.0, 0.5}


# -- load failures -----------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.json"
    p.write_text(text)
    return p


def saved_doc() -> dict[str, Any]:
    return {
        "format": nn.FORMAT,
        "architecture": make().architecture(),
        "state": good_state(),
    }


def doc_with(**kw: Any) -> str:
    d = saved_doc()
    d.update(kw)
    return json.dumps(d)


bad_files = [
    ("{not json", ValueError, "not valid JSON"),
    ("", ValueError, "not valid JSON"),
    ("[1, 2]", ValueError, "JSON object"),
    (doc_with(format="pickle"), ValueError, "not a deltagrad model file"),
    (json.dumps({"architecture": 1, "state": {}}), ValueError, "not a deltagrad model file"),
    (
        doc_with(architecture=nn.MLP(2, [4, 1]).architecture()),
        ValueError,
        "architecture",
    ),
    (
        doc_with(architecture=nn.MLP(2, [3, 1], activation="relu").architecture()),
        ValueError,
        "architecture",
    ),
    (doc_with(state=[1.0]), TypeError, "mapping"),
    (doc_with(extra=1), ValueError, "unexpected top-level keys"),
    (doc_with(state=with_({}, drop=W)), KeyError, "missing keys"),
    (doc_with(state=with_({W: "1.0"})), TypeError, W),
    (doc_with(state=with_({W: None})), TypeError, W),
    (doc_with(state=with_({W: False})), TypeError, W),
    (doc_with(state=with_({W: math.nan})), ValueError, W),  # json.dumps writes NaN
    (doc_with(state=with_({W: math.inf})), ValueError, W),
    ('{"format": "deltagrad.nn/1", "format": "x"}', ValueError, "duplicate key 'format'"),
]


@pytest.mark.parametrize(("text", "err", "match"), bad_files)
def test_load_refuses_bad_files_naming_the_file_and_leaves_model_unchanged(
    tmp_path: Path, text: str, err: type[Exception], match: str
) -> None:
    path = write(tmp_path, text)
    m = make()
    before = bits(m.state_dict())
    with pytest.raises(err, match=match) as info:
        m.load(path)
    assert "bad.json" in str(info.value)
    assert bits(m.state_dict()) == before


def test_load_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    m = make()
    before = m.state_dict()
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        m.load(tmp_path / "nope.json")
    assert m.state_dict() == before


def test_file_of_a_layer_does_not_load_into_a_neuron(tmp_path: Path) -> None:
    nn.Layer(2, 1, seed=0).save(tmp_path / "layer.json")
    neuron = nn.Neuron(2, seed=0)
    with pytest.raises(ValueError, match="architecture"):
        neuron.load(tmp_path / "layer.json")


# -- save failures -----------------------------------------------------------------------------


def test_save_replaces_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("old")
    make().save(path)
    assert json.loads(path.read_text())["format"] == nn.FORMAT
    assert sorted(os.listdir(tmp_path)) == ["m.json"]


def test_failed_save_keeps_the_old_file_and_leaves_no_stray_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("old contents")
    m = make()
    m.layers[0].neurons[0].w[0].data = math.nan
    with pytest.raises(ValueError, match="not finite"):
        m.save(path)
    assert path.read_text() == "old contents"
    assert os.listdir(tmp_path) == ["m.json"]


def test_failed_rename_cleans_up_the_temp_file(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "m.json"
    path.write_text("old contents")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match=r"m\.json"):
        make().save(path)
    assert path.read_text() == "old contents"
    assert os.listdir(tmp_path) == ["m.json"]


def test_save_into_a_missing_folder_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "m.json"
    with pytest.raises(FileNotFoundError, match=r"m\.json"):
        make().save(target)
    assert os.listdir(tmp_path) == []


def test_binary_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    m = make()
    before = m.state_dict()
    with pytest.raises(ValueError, match=r"bad\.json.*UTF-8"):
        m.load(path)
    assert m.state_dict() == before


class TwoHeads(nn.Module):
    """A user-defined module: two MLPs under one name, via named_children."""

    def __init__(self) -> None:
        self.name = "heads"
        self.left = nn.MLP(2, [2], seed=0, name="left")
        self.right = nn.MLP(2, [1], seed=1, name="right")

    def named_children(self) -> list[tuple[str, nn.Module]]:
        return [("left", self.left), ("right", self.right)]


def test_custom_modules_get_names_state_dicts_and_files(tmp_path: Path) -> None:
    m = TwoHeads()
    names = [n for n, _ in m.named_parameters()]
    assert names[0] == "left.layers.0.neurons.0.w.0"
    assert names[-1] == "right.layers.0.neurons.0.b"
    assert m.parameters() == [*m.left.parameters(), *m.right.parameters()]
    assert m.weights() == [*m.left.weights(), *m.right.weights()]
    m.save(tmp_path / "two.json")
    other = TwoHeads()
    for p in other.parameters():
        p.data = 0.0
    other.load(tmp_path / "two.json")
    assert bits(other.state_dict()) == bits(m.state_dict())


# -- hostile files: nesting depth and number length become load errors naming the file -------


@settings(max_examples=20)
@given(
    depth=st.integers(2_000, 200_000),
    opener=st.sampled_from(["[", '{"a":']),
    where=st.sampled_from(["top", "state", "architecture"]),
)
def test_deeply_nested_json_is_a_load_error_naming_the_file(
    depth: int, opener: str, where: str, tmp_path_factory: Any
) -> None:
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    text = {
        "top": nested,
        "state": doc_with(state="@").replace('"@"', nested),
        "architecture": doc_with(architecture="@").replace('"@"', nested),
    }[where]
    path = tmp_path_factory.mktemp("deep") / "bad.json"
    path.write_text(text)
    m = make()
    before = bits(m.state_dict())
    with pytest.raises(ValueError, match=r"load '.*bad\.json'"):
        m.load(path)
    assert bits(m.state_dict()) == before


@settings(max_examples=20)
@given(digits=st.integers(4_301, 50_000), sign=st.sampled_from(["", "-"]))
def test_an_int_too_long_for_python_is_a_load_error_naming_the_file(
    digits: int, sign: str, tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("long") / "bad.json"
    path.write_text(doc_with(state=with_({W: 0.5})).replace("0.5", sign + "7" * digits))
    m = make()
    before = bits(m.state_dict())
    with pytest.raises(ValueError, match=r"load '.*bad\.json'.*not valid JSON"):
        m.load(path)
    assert bits(m.state_dict()) == before


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda m: m.save(""), ValueError, "save: path must name a file, got ''"),
        (lambda m: m.save(" "), ValueError, "save: path must name a file"),
        (lambda m: m.save(3), TypeError, "save: path must be a str or os.PathLike, got int"),
        (lambda m: m.save(None), TypeError, "save: path must be a str or os.PathLike"),
        (lambda m: m.load(123), TypeError, "load: path must be a str or os.PathLike, got int"),
        (lambda m: m.load(0), TypeError, "load: path must be a str or os.PathLike, got int"),
        (lambda m: m.load(True), TypeError, "load: path must be a str or os.PathLike"),
        (lambda m: m.load(""), ValueError, "load: path must name a file, got ''"),
    ],
)
def test_bad_paths_are_named_and_no_file_descriptor_is_read(
    call: Any, err: type[Exception], match: str
) -> None:
    m = make()
    before = bits(m.state_dict())
    with pytest.raises(err, match=match):
        call(m)
    assert bits(m.state_dict()) == before


def test_save_to_a_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match=r"save: cannot write .* it is a folder"):
        make().save(tmp_path)
