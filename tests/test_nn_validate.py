"""One check per kind of argument across nn: the same bad number gets the same error type and
the same message tail from every module (optimizers, penalties, data sets, fit, layers)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd import Value

NONNEGATIVE: dict[str, Callable[[Any], object]] = {
    "SGD(lr)": lambda x: nn.SGD([Value(1.0)], lr=x),
    "Adam(eps)": lambda x: nn.Adam([Value(1.0)], eps=x),
    "l1_penalty(lam)": lambda x: nn.l1_penalty([Value(1.0)], x),
    "l2_penalty(lam)": lambda x: nn.l2_penalty([Value(1.0)], x),
    "make_moons(noise)": lambda x: nn.data.make_moons(n=4, noise=x, seed=0),
    "make_blobs(std)": lambda x: nn.data.make_blobs(n=4, std=x, seed=0),
    "fit(l2)": lambda x: nn.fit(nn.Neuron(1, seed=0), [[1.0]], [1], l2=x, progress=False),
}

POSITIVE_INT: dict[str, Callable[[Any], object]] = {
    "Neuron(nin)": lambda n: nn.Neuron(n),
    "MLP(nouts)": lambda n: nn.MLP(2, [n]),
    "make_xor(n)": lambda n: nn.data.make_xor(n=n, seed=0),
    "init(fan_in)": lambda n: nn.init.uniform(n, 2, rng=0),
}

bad_numbers = st.one_of(
    st.sampled_from([True, False, "0.1", None, Value(0.1), [0.1]]),
    st.floats(max_value=-1e-300) | st.sampled_from([math.nan, math.inf]),
)


def failure(call: Callable[[Any], object], x: object) -> tuple[type, str]:
    with pytest.raises((TypeError, ValueError)) as info:
        call(x)
    # the message after "who: name": what is wrong with the value, the same in every module
    tail = re.sub(r"^.*?(must be|invalid \S+)", r"\1", str(info.value))
    tail = re.sub(r"^invalid \S+", "invalid", tail)
    return type(info.value), tail


@given(x=bad_numbers)
def test_a_bad_nonnegative_number_gets_one_message_everywhere(x: object) -> None:
    got = {name: failure(call, x) for name, call in NONNEGATIVE.items()}
    assert len(set(got.values())) == 1, got


@given(n=st.sampled_from([0, -3, True, 1.5, "2", None]))
def test_a_bad_count_gets_one_message_everywhere(n: object) -> None:
    got = {name: failure(call, n) for name, call in POSITIVE_INT.items()}
    assert len(set(got.values())) == 1, got
