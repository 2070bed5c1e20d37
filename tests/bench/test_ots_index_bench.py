"""`make bench-ots-index` with tiny sizes: it loads, pages through the index and prints.

Not a timed test: the figures of a run this small mean nothing.
"""

import re

from bench import ots_index_bench


def test_the_index_bench_reads_every_row_back_through_pages(capsys):
    assert ots_index_bench.main(["--rows", "400", "--runs", "2", "--page", "150"]) == 0
    out = capsys.readouterr().out
    assert "load: 400 rows with one global index" in out
    assert len(re.findall(r"^run \d: 400 rows in ", out, re.MULTILINE)) == 2
    assert "GetRange on the index, pages of 150: best " in out
    assert re.search(r"^CPU per row \(median\): client [\d.]+ us \+ server [\d.]+ us", out, re.M)
