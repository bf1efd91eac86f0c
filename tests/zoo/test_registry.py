from pathlib import Path

import pytest

from reidkit.core.errors import ModelError
from reidkit.zoo.registry import MODELS, resolve_model


def test_every_model_has_url_and_checksum() -> None:
    for spec in MODELS.values():
        assert spec.sha256 and len(spec.sha256) == 64, spec.name
        assert spec.url is None or spec.url.startswith("https://"), spec.name


def test_lookup_order_prefers_model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / MODELS["yolox-nano"].filename
    fake.write_bytes(b"x")
    monkeypatch.setenv("REIDKIT_MODEL_DIR", str(tmp_path))
    assert resolve_model("yolox-nano", task="detect")[0] == fake


def test_missing_model_offline_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REIDKIT_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match="REIDKIT_MODEL_DIR"):
        resolve_model("person-reidentification-retail-0248", download=False)


def test_unknown_name_and_missing_path() -> None:
    with pytest.raises(ModelError, match="unknown ReID model"):
        resolve_model("no-such-model")
    with pytest.raises(ModelError, match="not found"):
        resolve_model("/nonexistent/model.onnx")


def test_a_model_dir_that_is_not_a_folder_is_named_in_the_error_and_in_the_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reidkit.cli import main

    typo = tmp_path / "modles"  # a typo: no such folder
    monkeypatch.setenv("REIDKIT_MODEL_DIR", str(typo))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match=f"REIDKIT_MODEL_DIR names {typo}, which is not a folder"):
        resolve_model("person-reidentification-retail-0248", download=False)
    assert main(["models"]) == 0
    assert f"warning: REIDKIT_MODEL_DIR names {typo}, which is not a folder" in capsys.readouterr().err
