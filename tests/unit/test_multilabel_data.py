"""scene / natural-scenes / nuswide / iaprtc12: real MULAN scene files, miniatures, verify, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import iaprtc12, natural_scenes, nuswide, scene
from harness.errors import DataError, InvalidParameterError, MissingDataError
from harness.params import resolve_config

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SCENE_DIR = SHARED / "multilabel" / "scene"

MINIS = {
    "scene-mini": scene.SceneMini,
    "natural-scenes-mini": natural_scenes.NaturalScenesMini,
    "nuswide-mini": nuswide.NusWideMini,
    "iaprtc12-mini": iaprtc12.IaprTc12Mini,
}


@pytest.fixture(scope="module")
def real_scene() -> Path:
    if not (SCENE_DIR / "scene-train.arff").is_file():
        pytest.skip(f"MULAN scene files {SCENE_DIR} are absent (they live in ../shared/data beside the repository)")
    return SCENE_DIR


@pytest.fixture(scope="module")
def minis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    roots = {}
    for name, cls in MINIS.items():
        roots[name] = tmp_path_factory.mktemp(name)
        cls().make_mini(roots[name], seed=0)
    return roots


def _copy(minis: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(minis[name], tmp_path / name))


def _hamming_of_linear_model(ds) -> float:  # noqa: ANN001
    """Hamming loss of a ridge regression on the provided features, thresholded at 0.5 (one solve)."""
    x_tr = np.concatenate(list(ds.train.features.values()), axis=1).astype(np.float64)
    x_te = np.concatenate(list(ds.test.features.values()), axis=1).astype(np.float64)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0) + 1e-6
    a, b = (x_tr - mean) / std, (x_te - mean) / std
    y = ds.train.labels.astype(np.float64)
    w = np.linalg.solve(a.T @ a + 0.5 * len(a) * np.eye(a.shape[1]), a.T @ (y - y.mean(axis=0)))
    pred = (b @ w + y.mean(axis=0)) >= 0.5
    return float((pred != ds.test.labels).mean())


# -- the real MULAN scene files ---------------------------------------------------------------


def test_real_scene_arff_loads_with_documented_shape_and_order(real_scene: Path) -> None:
    ds = scene.Scene().load(real_scene)
    assert (len(ds.train), len(ds.test)) == (1211, 1196)
    assert ds.concepts == ("Beach", "Sunset", "FallFoliage", "Field", "Mountain", "Urban")
    assert ds.train.features["luv_moments"].shape == (1211, 294)
    assert ds.test.labels.shape == (1196, 6) and ds.test.labels.dtype == np.int8
    assert set(np.unique(ds.train.labels)) == {0, 1}
    assert ds.info["had_header"] is False  # the shared copy has its ARFF header stripped
    assert ds.info["train_cardinality"] == pytest.approx(1.0619, abs=1e-4)
    assert ds.info["test_all_negative_hamming_loss"] == pytest.approx(ds.test.labels.mean(), abs=1e-5)
    feats = ds.train.features["luv_moments"]
    assert feats.min() >= 0.0 and feats.max() <= 1.0
    assert scene.Scene().verify(real_scene) == []


def test_arff_with_header_comments_and_label_xml(real_scene: Path, tmp_path: Path) -> None:
    rows = (real_scene / "scene-train.arff").read_text().strip().splitlines()[:3]
    header = ["% MULAN scene", "@relation scene", ""]
    header += [f"@attribute Att{i + 1} numeric" for i in range(294)]
    header += [f"@attribute {n} {{0,1}}" for n in scene.LABELS] + ["", "@data"]
    path = tmp_path / "scene-train.arff"
    path.write_text("\n".join(header + rows) + "\n")
    table = scene.read_arff(path)
    headerless = scene.read_arff(real_scene / "scene-train.arff")
    assert table.had_header and table.label_names == scene.LABELS
    np.testing.assert_array_equal(table.features, headerless.features[:3])
    np.testing.assert_array_equal(table.labels, headerless.labels[:3])
    scene.write_label_xml(tmp_path / "scene.xml", scene.LABELS)
    assert scene.read_label_xml(tmp_path / "scene.xml") == scene.LABELS


def test_arff_wrong_field_count_names_file_and_line(real_scene: Path, tmp_path: Path) -> None:
    lines = (real_scene / "scene-test.arff").read_text().splitlines()[:4]
    lines[2] = lines[2].rsplit(",", 1)[0]  # drop the last label of data line 3
    bad = tmp_path / "scene-test.arff"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"scene-test\.arff:3: expected 300 comma-separated fields, found 299"):
        scene.read_arff(bad)


def test_arff_bad_label_value_and_sparse_rows(tmp_path: Path) -> None:
    bad = tmp_path / "x.arff"
    bad.write_text("@relation x\n@attribute a numeric\n@attribute L {0,1}\n@data\n0.5,1\n0.2,2\n")
    with pytest.raises(DataError, match=r"x\.arff:6: column 2: expected a label 0 or 1, got '2'"):
        scene.read_arff(bad)
    bad.write_text("@relation x\n@attribute a numeric\n@attribute L {0,1}\n@data\n{0 0.5, 1 1}\n")
    with pytest.raises(DataError, match="sparse ARFF rows are not supported"):
        scene.read_arff(bad)
    bad.write_text("@relation x\n@attribute a numeric\n@attribute L {0,1}\n@data\nabc,1\n")
    with pytest.raises(DataError, match=r"x\.arff:5: column 1: expected a number, got 'abc'"):
        scene.read_arff(bad)


def test_missing_root_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="does not exist"):
        scene.Scene().load(tmp_path / "nowhere")
    with pytest.raises(MissingDataError, match="scene train file not found"):
        scene.Scene().load(tmp_path)


# -- every miniature through its real adapter ---------------------------------------------------


@pytest.mark.parametrize("name", list(MINIS))
def test_real_adapter_reads_its_miniature(minis: dict[str, Path], name: str) -> None:
    adapter = MINIS[name]()
    ds = adapter.load(minis[name])
    assert ds.is_miniature and ds.task == "multilabel" and ds.protocol.metric == "hamming_loss"
    assert ds.train.labels.dtype == np.int8 and set(np.unique(ds.train.labels)) <= {0, 1}
    assert ds.train.labels.shape[1] == len(ds.concepts)
    assert ds.train.features and all(len(b) == len(ds.train) for b in ds.train.features.values())
    assert set(ds.train.ids).isdisjoint(ds.test.ids)
    # Learnable: a linear model on the provided features beats the all-negative predictor.
    trivial = ds.test.labels.mean()
    assert _hamming_of_linear_model(ds) < 0.85 * trivial


PARTNERS = {"scene-mini": scene.MINI_PARTNERS, "natural-scenes-mini": natural_scenes.MINI_PARTNERS}


@pytest.mark.parametrize("name", list(MINIS))
def test_miniature_labels_are_correlated_and_imbalanced(minis: dict[str, Path], name: str) -> None:
    ds = MINIS[name]().load(minis[name])
    y = np.concatenate([ds.train.labels, ds.test.labels]).astype(float)
    if name in PARTNERS:
        # Mostly single-label sets: the label pairs that do occur are the declared partners.
        declared = {frozenset((a, b)) for a, partners in PARTNERS[name].items() for b, _ in partners}
        pairs = [frozenset((i, j)) for row in y for i in np.flatnonzero(row) for j in np.flatnonzero(row) if i < j]
        assert len(pairs) > 0.08 * len(y)
        assert np.mean([p in declared for p in pairs]) > 0.75
    else:
        p = y.mean(axis=0)
        lift = ((y.T @ y) / len(y)) / np.maximum(np.outer(p, p), 1e-12)
        np.fill_diagonal(lift, 0)
        assert lift.max() > 2.0  # some label pairs co-occur far more often than by chance
    negatives_per_positive = (y == 0).sum() / (y == 1).sum()
    assert negatives_per_positive > (2.5 if len(ds.concepts) < 10 else 10.0)


@pytest.mark.parametrize("name", list(MINIS))
def test_verify_passes_on_the_miniature(minis: dict[str, Path], name: str) -> None:
    assert MINIS[name]().verify(minis[name]) == []


@pytest.mark.parametrize(
    ("name", "victim"),
    [
        ("scene-mini", "scene-test.arff"),
        ("natural-scenes-mini", "original/17.jpg"),
        ("nuswide-mini", "Groundtruth/TrainTestLabels/Labels_zebra_Test.txt"),
        ("iaprtc12-mini", "iaprtc12_train_Gist.fvec"),
    ],
)
def test_verify_names_a_removed_file(minis: dict[str, Path], tmp_path: Path, name: str, victim: str) -> None:
    root = _copy(minis, name, tmp_path)
    (root / victim).unlink()
    problems = MINIS[name]().verify(root)
    assert problems and problems[0] == f"missing: {root / victim}"


@pytest.mark.parametrize(
    ("name", "victim", "expected"),
    [
        ("scene-mini", "scene-train.arff", r"corrupt: .*scene-train\.arff:\d+: expected 300 comma-separated fields"),
        ("natural-scenes-mini", "original/17.jpg", r"corrupt: .*original/17\.jpg: .*truncated"),
        ("nuswide-mini", "Low_Level_Features/Test_Normalized_EDH.dat", r"Test_Normalized_EDH\.dat(:\d+: expected 73 values|: \d+ rows, expected 400)"),
        ("iaprtc12-mini", "iaprtc12_test_DenseSift.hvecs", r"corrupt: .*DenseSift\.hvecs: .* is incomplete: the file is truncated"),
    ],
)
def test_verify_names_a_truncated_file(minis: dict[str, Path], tmp_path: Path, name: str, victim: str, expected: str) -> None:
    root = _copy(minis, name, tmp_path)
    data = (root / victim).read_bytes()
    (root / victim).write_bytes(data[: int(len(data) * 0.6) - 7])  # mid-row, not on a row boundary
    problems = MINIS[name]().verify(root)
    assert any(__import__("re").search(expected, p) for p in problems), problems


def test_miniatures_are_generated_into_the_cache_deterministically(minis: dict[str, Path]) -> None:
    ds = scene.SceneMini().load(None)
    assert (ds.root / "scene-train.arff").read_bytes() == (minis["scene-mini"] / "scene-train.arff").read_bytes()
    assert scene.SceneMini().load(None).manifest_hash == ds.manifest_hash


def test_natural_scenes_miniature_is_byte_identical_across_generations(minis: dict[str, Path]) -> None:
    """The .mat header carries no writing time, so every generation has the same manifest hash."""
    cached = natural_scenes.NaturalScenesMini().load(None)  # generated now, into this test's cache
    mat = (cached.root / "processed" / natural_scenes.MAT_NAME).read_bytes()
    assert mat[:116] == natural_scenes.MAT_HEADER and b"Created on" not in mat[:116]
    assert mat == (minis["natural-scenes-mini"] / "processed" / natural_scenes.MAT_NAME).read_bytes()
    assert natural_scenes.NaturalScenes().load(minis["natural-scenes-mini"]).manifest_hash == cached.manifest_hash


@pytest.mark.parametrize("name", sorted(MINIS))
def test_miniature_mixin_roots(minis: dict[str, Path], name: str, tmp_path: Path) -> None:
    adapter = MINIS[name]()
    assert adapter.is_miniature and adapter.mini_version == 1 and adapter.mini_seed == 0
    assert adapter._root(minis[name]) == minis[name]  # a given root is read like a real copy
    with pytest.raises(MissingDataError, match=name):
        adapter._root(tmp_path / "absent")


# -- natural scenes ------------------------------------------------------------------------------


def test_natural_scenes_folds_partition_the_images(minis: dict[str, Path]) -> None:
    adapter = natural_scenes.NaturalScenesMini()
    seen: list[str] = []
    for fold in range(1, 11):
        ds = adapter.load(minis["natural-scenes-mini"], adapter.Config(fold=fold))
        assert set(ds.test.ids).isdisjoint(ds.train.ids)
        assert len(ds.train) + len(ds.test) == natural_scenes.MINI_N
        seen += list(ds.test.ids)
    assert sorted(seen, key=int) == [str(i) for i in range(1, natural_scenes.MINI_N + 1)]
    ds = adapter.load(minis["natural-scenes-mini"])
    assert ds.concepts == natural_scenes.CLASSES
    assert ds.train.features["miml_bags"].shape[1] == 135
    assert ds.train.paths is not None and Path(ds.train.paths[0]).is_file()
    with pytest.raises(InvalidParameterError, match="'fold' parameter"):
        resolve_config(adapter.Config, cli_values=["fold=11"])


def test_natural_scenes_mat_is_the_lamda_format(minis: dict[str, Path]) -> None:
    import scipy.io

    mat = scipy.io.loadmat(str(minis["natural-scenes-mini"] / "processed" / "miml data.mat"))
    assert mat["targets"].shape == (5, natural_scenes.MINI_N)
    assert set(np.unique(mat["targets"])) == {-1.0, 1.0}
    assert mat["bags"].shape == (natural_scenes.MINI_N, 1) and mat["bags"][0, 0].shape == (9, 15)
    assert [c[0][0] for c in mat["class_name"]] == list(natural_scenes.CLASSES)


def test_natural_scenes_without_images_uses_features_only(minis: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "ns"
    (root / "processed").mkdir(parents=True)
    shutil.copy(minis["natural-scenes-mini"] / "processed" / "miml data.mat", root / "processed")
    ds = natural_scenes.NaturalScenesMini().load(root)
    assert ds.train.paths is None and ds.info["has_images"] is False


# -- NUS-WIDE ------------------------------------------------------------------------------------


def test_nuswide_blocks_have_the_real_dimensions(minis: dict[str, Path]) -> None:
    ds = nuswide.NusWideMini().load(minis["nuswide-mini"])
    assert {k: v.shape[1] for k, v in ds.train.features.items()} == nuswide.BLOCKS
    assert ds.concepts == nuswide.CONCEPTS_81
    assert ds.info["train_items_without_label"] > 0  # kept, as in the real set
    sub = nuswide.NusWideMini().load(minis["nuswide-mini"], resolve_config(nuswide.NusWideMini.Config, cli_values=["blocks=CH,BoW"]))
    assert list(sub.train.features) == ["CH", "BoW"]
    with pytest.raises(InvalidParameterError, match="must name blocks among"):
        resolve_config(nuswide.NusWide.Config, cli_values=["blocks=CH,SIFT"])


def test_nuswide_row_with_wrong_value_count(tmp_path: Path) -> None:
    bad = tmp_path / "Train_Normalized_CH.dat"
    bad.write_text("0.1 0.2 0.3 \n0.1 0.2 \n0.4 0.5 0.6 \n")
    with pytest.raises(DataError, match=r"Train_Normalized_CH\.dat:2: expected 3 values, got 2"):
        nuswide.parse_matrix(bad, 3)
    bad.write_text("0.1 0.2 0.3\n0.1 0.2 0.3 0.4\n")
    with pytest.raises(DataError, match=r"Train_Normalized_CH\.dat:2: expected 3 values, got 4"):
        nuswide.parse_matrix(bad, 3)
    labels = tmp_path / "Labels_sky_Train.txt"
    labels.write_text("0\n1\nyes\n")
    with pytest.raises(DataError, match=r"Labels_sky_Train\.txt:3: expected 0 or 1, got 'yes'"):
        nuswide.read_label_file(labels)


def test_nuswide_label_file_shorter_than_the_image_list(minis: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(minis, "nuswide-mini", tmp_path)
    path = root / "Groundtruth/TrainTestLabels/Labels_cat_Train.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-5]) + "\n")
    with pytest.raises(DataError, match=r"Labels_cat_Train\.txt: 595 labels for the 600 images"):
        nuswide.NusWideMini().load(root)
    assert f"count: {path}: 595 lines, expected 600 (one per image)" in nuswide.NusWideMini().verify(root)


# -- IAPR TC-12 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("ext", "dtype"), [("fvec", np.float32), ("hvecs", np.uint16), ("hvecs32", np.uint32)])
def test_lear_vector_files_round_trip(tmp_path: Path, ext: str, dtype: type) -> None:
    x = (np.arange(12).reshape(4, 3) * 7).astype(dtype)
    path = tmp_path / f"m.{ext}"
    iaprtc12.write_vecs(path, x)
    header = 2 if ext == "hvecs" else 4
    assert path.stat().st_size == 4 * (header + 3 * np.dtype(dtype).itemsize)
    np.testing.assert_array_equal(iaprtc12.read_vecs(path), x)


def test_lear_vector_file_damage(tmp_path: Path) -> None:
    path = tmp_path / "m.hvecs"
    iaprtc12.write_vecs(path, np.ones((5, 4), np.uint16))
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:-3]))
    with pytest.raises(DataError, match=r"row 5 \(byte 40\) is incomplete: the file is truncated"):
        iaprtc12.read_vecs(path)
    data[10] = 9  # the header of row 2 (bytes 10-11) now says dimension 9
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"row 2 \(byte 10\) declares dimension 9, expected 4"):
        iaprtc12.read_vecs(path)
    with pytest.raises(DataError, match="unknown vector file type"):
        iaprtc12.read_vecs(tmp_path / "m.bin")


def test_iaprtc12_feature_selection(minis: dict[str, Path]) -> None:
    adapter = iaprtc12.IaprTc12Mini()
    ds = adapter.load(minis["iaprtc12-mini"])
    assert sorted(ds.train.features) == sorted(iaprtc12.MINI_FEATURES)
    assert ds.train.features["DenseSift"].shape == (iaprtc12.MINI_COUNTS["train"], 1000)
    assert ds.train.features["Gist"].shape[1] == 512
    only = adapter.load(minis["iaprtc12-mini"], resolve_config(adapter.Config, cli_values=["features=Gist"]))
    assert list(only.train.features) == ["Gist"]
    with pytest.raises(MissingDataError, match="test Hsv features not found|train Hsv features not found"):
        adapter.load(minis["iaprtc12-mini"], resolve_config(adapter.Config, cli_values=["features=Hsv"]))
