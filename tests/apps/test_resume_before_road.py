"""A results CSV begun before the ROAD columns is resumed, not refused: its rows kept, the columns added."""
from unioncam_lite.apps.evaluation.results import ResultsCSV
from unioncam_lite.apps.evaluation.scoring import COLUMNS, COLUMNS_BEFORE_ROAD


def test_an_old_results_file_gets_the_road_columns_and_keeps_its_rows(tmp_path, capsys):
    path = tmp_path / "results.csv"
    row = [f"v{i}" for i in range(len(COLUMNS_BEFORE_ROAD))]
    path.write_text(",".join(COLUMNS_BEFORE_ROAD) + "\n" + ",".join(row) + "\n")
    rows = ResultsCSV(path).read(fix=True)
    assert len(rows) == 1 and rows[0]["image"] == "v0" and rows[0]["ROAD"] == ""
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert "added them, empty in its 1 rows" in capsys.readouterr().err
    assert ResultsCSV(path).read() == rows        # and it reads as a current file from now on
