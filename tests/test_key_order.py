"""Row keys in display order (tui/view/key_order.py)."""

from __future__ import annotations

import random

import pytest

from netwatch.tui.view.key_order import Descending, sort_keys


@pytest.mark.parametrize("reverse", [False, True])
def test_a_descending_value_orders_keys_as_minus_the_value_would(reverse: bool) -> None:
    chooser = random.Random(7)
    times = {f"k{index}": float(chooser.randrange(20)) for index in range(500)}  # many ties
    times.update({"none1": None, "none2": None})  # type: ignore[dict-item]
    keys = list(times)
    chooser.shuffle(keys)
    expected = sort_keys(keys, lambda key: None if times[key] is None else -times[key], reverse)
    assert sort_keys(keys, Descending(times.get), reverse) == expected
    assert expected[-2:] == [key for key in keys if key.startswith("none")]  # None last either way
    assert Descending(times.get)("k1") == -times["k1"] and Descending(times.get)("none1") is None
