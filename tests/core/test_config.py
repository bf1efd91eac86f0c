from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reidkit.core.config import load_config, parse_overrides
from reidkit.core.errors import ReidkitError
from reidkit.core.registry import Registry


@dataclass
class Optim:
    lr: float = 0.1
    steps: list[int] = field(default_factory=lambda: [10, 20])


@dataclass
class Cfg:
    name: str = "base"
    epochs: int = 1
    amp: bool = False
    optim: Optim = field(default_factory=Optim)


def test_base_chain_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("name: parent\nepochs: 5\noptim:\n  lr: 0.5\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\nepochs: 7\n")
    cfg = load_config(Cfg, tmp_path / "child.yaml", ["optim.lr=3e-4", "amp=true", "optim.steps=[1,2,3]"])
    assert cfg == Cfg(name="parent", epochs=7, amp=True, optim=Optim(lr=3e-4, steps=[1, 2, 3]))


def test_unknown_key_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(ReidkitError, match=r"unknown config key 'optim\.lrr'"):
        load_config(Cfg, None, ["optim.lrr=1"])


def test_wrong_type_fails(tmp_path: Path) -> None:
    with pytest.raises(ReidkitError, match="epochs"):
        load_config(Cfg, None, ["epochs=many"])


def test_circular_base(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_BASE_: a.yaml\n")
    with pytest.raises(ReidkitError, match="circular"):
        load_config(Cfg, tmp_path / "a.yaml")


def test_parse_overrides_nested() -> None:
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_registry() -> None:
    reg: Registry = Registry("thing")

    @reg.register("one")
    def one() -> int:
        return 1

    assert reg.build("one") == 1 and "one" in reg and reg.names() == ["one"]
    with pytest.raises(KeyError, match="unknown thing 'two'; known: one"):
        reg.get("two")


def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\noptim:\n  lr: [0.1\n")
    with pytest.raises(ReidkitError) as caught:
        load_config(Cfg, path)
    message = str(caught.value)
    assert str(path) in message and "line 3, column 7" in message and "\n" not in message


def test_an_unknown_or_mistyped_key_names_the_file_that_set_it(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("optim:\n  lrr: 0.5\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\nepochs: many\n")
    with pytest.raises(ReidkitError, match=r"base\.yaml: unknown config key 'optim\.lrr'"):
        load_config(Cfg, tmp_path / "child.yaml")
    (tmp_path / "base.yaml").write_text("epochs: 2\n")
    with pytest.raises(ReidkitError, match=r"child\.yaml: config key 'epochs' expects int"):
        load_config(Cfg, tmp_path / "child.yaml")
    # An override that sets the key wins over the file, and is what the message names.
    with pytest.raises(ReidkitError, match=r"override 'epochs=lots'"):
        load_config(Cfg, tmp_path / "child.yaml", ["epochs=lots"])
