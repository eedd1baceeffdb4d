"""The accelerator check runs on CPU at small sizes, so it never rots before an
accelerator is lent: every measurement lands in its JSON file and the README table."""

import importlib.util
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_device_check_measures_everything_at_small_sizes(tmp_path, monkeypatch, capsys):
    check = load_script("device_check")
    monkeypatch.setattr(sys, "argv", ["device_check.py", "--small", "--env", "pendulum", "--out-dir", str(tmp_path)])
    check.main()
    files = list(tmp_path.glob("device-cpu-*-small.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == doc
    assert doc["backend"] == "cpu" and doc["skipped"] == [] and doc["wall_s"] > 0
    assert {(r["algo"], r["seeds"]) for r in doc["updates"]} == {("bc", 2), ("sac", 2), ("iqlearn", 2)}
    for r in doc["updates"]:
        assert r["updates_per_s_total"] == 2 * r["updates_per_s_per_seed"] > 0
        assert 0 < r["fraction_of_layer_peak"] < 10  # FLOPs from XLA's cost analysis, peak measured alike
    assert [r["seeds"] for r in doc["gail_env_loop"]] == [2] and doc["gail_env"]["backend"] == "gymnax"
    run = doc["gail_run"]
    assert run["seeds"] == 2 and len(run["normalized_score_per_seed"]) == 2
    assert all(math.isfinite(x) for x in run["normalized_score_per_seed"]) and run["run_s"] > 0
    monkeypatch.setattr(sys, "argv", ["device_check.py", "--table", "--out-dir", str(tmp_path)])
    check.main()
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 3 and rows[2].startswith("| cpu (") and files[0].name in rows[2]


def test_scale_bench_runs_on_host_devices(monkeypatch, capsys):
    """bench_scale.py times the same sharded BC program on 1 and 2 host CPU devices (one
    subprocess each) and reports each against one device."""
    bench = load_script("bench_scale")
    monkeypatch.setattr(sys, "argv", ["bench_scale.py", "--seeds", "2", "--updates", "5", "--rounds", "1",
                                      "--devices", "1,2"])
    bench.main()
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["devices"] for r in doc["rows"]] == [1, 2] and doc["rows"][0]["ratio_to_one_device"] == 1.0
    for r in doc["rows"]:
        assert r["platform"] == "cpu" and r["seed_updates_per_s"] > 0 and 0 < r["fraction_of_peak"] < 10
