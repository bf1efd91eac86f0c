"""`reidkit export` with an --out it cannot write or a --checkpoint that is not one: one line, exit 2."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from reidkit.cli import main
from tests.export.test_int8_models import colour_cnn


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: ") and " — " in lines[0]
    return lines[0]


def test_int8_of_an_onnx_model_to_an_out_that_cannot_be_written(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    fp32 = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(colour_cnn(), (torch.zeros(1, 3, 32, 16),), str(fp32), dynamo=False)
    (tmp_path / "plain").write_text("x")
    out = tmp_path / "plain" / "nope" / "x.onnx"  # its folder cannot be made: a file is in the way
    assert main(["export", "--onnx", str(fp32), "-o", str(out), "--int8"]) == 2
    line = one_line(capfd.readouterr().err)
    assert str(out) in line and "cannot create its folder" in line and "--out" in line


def test_a_checkpoint_that_is_a_photo_says_what_to_pass(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "gray.jpg"
    cv2.imwrite(str(photo), np.full((32, 16), 128, np.uint8))
    assert main(["export", "-c", str(photo), "-o", str(tmp_path / "x.onnx")]) == 2
    line = one_line(capfd.readouterr().err)
    assert f"{photo}: not a reidkit checkpoint" in line and "reidkit train" in line and ".pth" in line
    assert "UnpicklingError" not in line
