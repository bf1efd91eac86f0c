from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.core.errors import DatasetError, ReidkitError
from reidkit.train.config import TrainConfig, load_train_config
from reidkit.train.data import parse_roots, resolve_root

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    assert isinstance(load_train_config(path), TrainConfig)


def test_child_config_inherits_and_overrides_win() -> None:
    cfg = load_train_config(
        CONFIGS / "cuhk03_osnet_x0_25.yaml", ["optim.lr=1e-4", "data.train=[cuhk03,market1501]", "amp=false"]
    )
    assert cfg.model.pretrained == "osnet_x0_25_msmt17"  # from the child
    assert cfg.data.p == 16 and cfg.augment.erasing == 0.5  # from base.yaml
    assert cfg.optim.lr == 1e-4 and cfg.data.train == ["cuhk03", "market1501"] and cfg.amp is False


def test_unknown_or_mistyped_keys_fail_loudly() -> None:
    with pytest.raises(ReidkitError, match=r"optim\.lrr"):
        load_train_config(None, ["optim.lrr=1"])
    with pytest.raises(ReidkitError, match=r"optim\.name"):
        load_train_config(None, ["optim.name=rmsprop"])


def test_roots_come_from_the_command_line_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REIDKIT_DATA_ROOT", raising=False)
    monkeypatch.delenv("REIDKIT_DATA_ROOT_CUHK03", raising=False)
    with pytest.raises(DatasetError, match="--root cuhk03=DIR"):
        resolve_root("cuhk03")
    monkeypatch.setenv("REIDKIT_DATA_ROOT", "/data")
    assert resolve_root("cuhk03") == Path("/data/cuhk03")
    monkeypatch.setenv("REIDKIT_DATA_ROOT_CUHK03", "/elsewhere")
    assert resolve_root("cuhk03") == Path("/elsewhere")
    assert resolve_root("cuhk03", parse_roots(["cuhk03=/cli"])) == Path("/cli")
    with pytest.raises(DatasetError, match="NAME=DIR"):
        parse_roots(["cuhk03"])


@pytest.mark.parametrize(
    ("override", "allowed"),
    [
        ("optim.epochs=-1", ">= 1"),
        ("optim.epochs=0", ">= 1"),
        ("optim.lr=0", "> 0"),
        ("optim.lr=-1e-3", "> 0"),
        ("data.p=0", ">= 1"),
        ("data.k=-4", ">= 1"),
        ("data.test_batch_size=0", ">= 1"),
        ("data.workers=-1", ">= 0"),
        ("optim.momentum=1.5", "[0, 1]"),
    ],
)
def test_impossible_values_fail_when_the_config_is_built(override: str, allowed: str) -> None:
    key = override.split("=")[0]
    with pytest.raises(ReidkitError) as caught:
        load_train_config(None, [override])
    message = str(caught.value)
    assert repr(key) in message and allowed in message and override in message
