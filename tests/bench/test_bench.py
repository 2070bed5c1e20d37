"""`make bench` on this interpreter with tiny sizes: it runs and prints every table.

Not a timed test: the figures of a run this small mean nothing; the bench itself is a script.
"""

import json

import pytest

from bench import perf, report


@pytest.mark.slow
def test_the_quick_bench_prints_every_table(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    here = "%d.%d" % perf.sys.version_info[:2]
    assert perf.main(["--quick", "--runtimes", here]) == 0
    out = capsys.readouterr().out
    for title in ("Generation:", "CPU floor", "Redemption:", "concurrent clients in detail"):
        assert title in out
    assert "Cold start:" in out
    saved = json.loads((tmp_path / "bench-latest.json").read_text())
    runtime = saved["runtimes"][here]
    assert runtime["generation"]["latency_ms"]["5"]["handler_s"][0] > 0
    redemption = runtime["redemption"]
    assert redemption["handler/1"]["n"] == perf.QUICK.single_client
    # N clients both ways: N client processes (FC instances) and N threads of one process
    per_way = perf.QUICK.rounds * perf.QUICK.clients * perf.QUICK.per_client
    for key in ("handler/processes", "bare/processes", "handler/threads", "bare/threads"):
        assert redemption[key]["n"] == per_way
        assert 0 < redemption[key]["in_flight"] <= perf.QUICK.clients * 1.01
    assert set(runtime["cold_start"]) == set(perf.HANDLERS)


@pytest.mark.slow
def test_only_measures_and_prints_the_parts_asked_for(capsys):
    here = "%d.%d" % perf.sys.version_info[:2]
    assert perf.main(["--quick", "--runtimes", here, "--only", "redemption", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "Redemption:" in out
    for title in ("Generation:", "CPU floor", "Cold start:"):
        assert title not in out


def test_percentile_is_nearest_rank():
    ordered = [float(i) for i in range(1, 101)]
    assert perf.percentile(ordered, 0.5) == 50.0
    assert perf.percentile(ordered, 0.99) == 99.0
    assert perf.percentile([7.0], 0.99) == 7.0


@pytest.mark.slow
def test_the_quick_campaign_bench_prints_its_figures(capsys, tmp_path, monkeypatch):
    from bench import campaigns

    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert campaigns.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for line in ("export, CSV pages", "figures (GET /batches/{b})", "per_user_limit  3 requests"):
        assert line in out
    saved = json.loads((tmp_path / "campaigns-latest.json").read_text())
    assert saved["redemption"]["plain"]["requests"] == 1  # as before campaigns
    assert saved["export"]["codes"] == saved["codes"]


@pytest.mark.slow
def test_the_quick_async_bench_prints_its_figures(capsys, tmp_path, monkeypatch):
    """`python -m bench.asyncgen --quick`: a local stack, 30,000 codes generated asynchronously
    and exported whole beside the synchronous generator."""
    from bench import asyncgen

    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert asyncgen.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "asynchronous, 30,000" in out and "synchronous, 2 x 10,000" in out
    assert "export: 30,000 codes, 30,000 distinct" in out
    saved = json.loads((tmp_path / "asyncgen-latest.json").read_text())
    assert saved["small"]["chunks"] == 3 and saved["ratio"] > 0
    assert saved["small"]["worker_peak_rss_mib"] > 0
