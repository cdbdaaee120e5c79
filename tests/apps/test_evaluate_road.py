"""ROAD in the evaluation: three columns at the end of each row (MoRF, LeRF, LeRF − MoRF), equal to
``metrics.road`` on the same maps, and in the summary table (over the rows that have them)."""
import csv

import pytest
import torch

from unioncam_lite.apps.cli import main
from unioncam_lite.apps.evaluation import (
    COLUMNS,
    evaluate_items,
    markdown_table,
    shapes_items,
    summarise,
    write_summary,
)
from unioncam_lite.apps.evaluation.scoring import COLUMNS_BEFORE_ROAD, ROAD_METRICS
from unioncam_lite.apps.evaluation.summary import ROAD_NOTE
from unioncam_lite.cams import compute_cam
from unioncam_lite.metrics import road
from unioncam_lite.models import load_model


@pytest.fixture(scope="module")
def shapes_cnn():
    return load_model("shapes_cnn", device="cpu")


def test_the_road_columns_come_last():
    assert ROAD_METRICS == ("ROAD MoRF", "ROAD LeRF", "ROAD")
    assert COLUMNS[:len(COLUMNS_BEFORE_ROAD)] == COLUMNS_BEFORE_ROAD and COLUMNS[-3:] == ROAD_METRICS


def test_evaluate_writes_road_to_the_csv_and_the_summary(tmp_path):
    out = tmp_path / "results.csv"
    assert main(["evaluate", "--images", "shapes", "--model", "shapes_cnn", "--num-images", "3", "--methods",
                 "gradcam,layercam", "--steps", "2", "--out", str(out)]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and list(rows[0])[-3:] == list(ROAD_METRICS)
    for r in rows:
        morf, lerf, score = (float(r[k]) for k in ROAD_METRICS)
        assert 0 <= morf <= 1 and 0 <= lerf <= 1 and score == pytest.approx(lerf - morf, abs=1e-6)
    md = out.with_suffix(".md").read_text()
    assert "| ROAD MoRF ↓ | ROAD LeRF ↑ | ROAD ↑ |" in md and ROAD_NOTE in md
    line = next(x for x in md.splitlines() if x.startswith("| Grad-CAM |"))
    mean = sum(float(r["ROAD"]) for r in rows if r["method"] == "gradcam") / 3
    assert f"| {mean:.3f} |" in line


def test_rows_equal_the_metric_on_the_same_maps(shapes_cnn):
    model, spec = shapes_cnn
    items = shapes_items(3, 7, spec)
    rows = evaluate_items(model, spec, items, ["gradcam"], steps=2, chunk=3, progress=False)
    x = torch.cat([it.load()[0] for it in items])
    with torch.no_grad():
        c = model(x).argmax(1)
    cams = compute_cam("gradcam", model, x, spec.target_layer, c, mean=spec.mean, std=spec.std)
    expected = road(model, x, cams, c, mean=spec.mean, std=spec.std)
    for i, r in enumerate(rows):
        for key, column in zip(("morf", "lerf", "road"), ROAD_METRICS):
            assert r[column] == pytest.approx(float(expected[key][i]), abs=1e-5)


def test_without_road_its_columns_are_empty_and_left_out_of_the_summary(shapes_cnn):
    model, spec = shapes_cnn
    rows = evaluate_items(model, spec, shapes_items(2, 7, spec), ["gradcam"], steps=2, chunk=2, progress=False,
                          with_road=False)
    assert all(r[k] == "" for r in rows for k in ROAD_METRICS) and set(rows[0]) == set(COLUMNS)
    _, table = summarise(rows)
    assert not [c for c in table.columns if c.startswith("ROAD")]


def test_rows_partly_without_road_are_counted_in_the_summary(shapes_cnn, tmp_path):
    """As a CSV begun before the ROAD columns and finished after reads: some rows have them empty."""
    model, spec = shapes_cnn
    rows = evaluate_items(model, spec, shapes_items(3, 7, spec), ["gradcam"], steps=2, chunk=3, progress=False)
    rows = [{k: str(v) for k, v in r.items()} for r in rows]       # as read back from the CSV
    for k in ROAD_METRICS:
        rows[0][k] = ""
    _, table = summarise(rows)
    assert table.loc["Grad-CAM", "images"] == 3 and table.loc["Grad-CAM", "images with ROAD"] == 2
    assert table.loc["Grad-CAM", "ROAD ↑"] == pytest.approx((float(rows[1]["ROAD"]) + float(rows[2]["ROAD"])) / 2)
    text = write_summary(rows, tmp_path / "r.csv", "title")
    assert "ROAD over the 2 of them computed with it" in text
    rows = [r for r in rows if r["image"] != rows[0]["image"]] + [{**rows[0], "method": "layercam"}]
    _, table = summarise(rows)   # a method with no ROAD at all: n/a
    assert "| n/a | n/a | n/a |" in markdown_table(table)
    assert "per method: images with ROAD" in write_summary(rows, tmp_path / "r.csv", "title")
