"""One Registry for every name -> entry table: registering a name twice is an error."""

from __future__ import annotations

import pytest

from reidkit.core.errors import ModelError
from reidkit.core.registry import Registry
from reidkit.zoo.registry import MODELS, get_spec, register_model


def test_a_second_entry_under_a_name_is_an_error() -> None:
    things: Registry[int] = Registry("thing")
    things.add("one", 1)
    with pytest.raises(KeyError, match="thing 'one' is already registered"):
        things.add("one", 2)
    assert things.get("one") == 1
    assert things.find("two") is None


def test_the_model_zoo_refuses_to_overwrite_a_model() -> None:
    spec = MODELS["osnet_x0_25_msmt17"]
    register_model(spec)  # the very same spec again (a module reload) is fine
    from dataclasses import replace

    with pytest.raises(KeyError, match="already registered"):
        register_model(replace(spec, filename="mine.onnx"))
    assert MODELS["osnet_x0_25_msmt17"].filename == "osnet_x0_25_msmt17.onnx"


def test_unknown_model_errors_list_only_models_of_the_asked_kind() -> None:
    with pytest.raises(ModelError, match="unknown ReID model") as reid:
        get_spec("no-such-model")
    assert "osnet_x0_25_msmt17" in str(reid.value)
    assert "yolox-nano" not in str(reid.value)
    with pytest.raises(ModelError, match="unknown detector") as detector:
        get_spec("no-such-model", task="detect")
    assert "yolox-nano" in str(detector.value)
    assert "osnet_x0_25_msmt17" not in str(detector.value)


def test_a_detector_asked_for_as_a_reid_model_says_so() -> None:
    with pytest.raises(ModelError, match="'yolox-nano' is a detector, not a ReID model"):
        get_spec("yolox-nano")
