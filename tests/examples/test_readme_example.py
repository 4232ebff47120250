"""The README's client example runs as it stands and prints the table the README says it prints.

The snippet is the first ```python block of the section "## The client in a script or a notebook",
executed as written (its own sizes: a small embedded server), in a namespace of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## The client in a script or a notebook"


def section_text() -> str:
    text = README.read_text()
    start = text.index(f"\n{SECTION}\n")
    following = text.find("\n## ", start + 1)
    return text[start : following if following != -1 else len(text)]


def code_blocks(section: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.timeout(120)
def test_the_readme_client_example_runs_and_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = code_blocks(section_text())
    position, snippet = next((i, code) for i, (language, code) in enumerate(blocks) if language == "python")
    namespace: dict[str, object] = {"__name__": "__readme__"}

    # exec, not a subprocess: the objects it made (the table, the server) are checked below.
    exec(compile(snippet, f"{README}:{SECTION}", "exec"), namespace)

    printed = capsys.readouterr().out
    # The block right after the snippet is what the README claims it prints.
    claimed = blocks[position + 1][1]
    header, row = printed.splitlines()  # the table, and no quality hint after it
    claimed_header, claimed_row = claimed.splitlines()
    assert header.split() == claimed_header.split()
    # Every cell as claimed but q99: the generated history ends on the day the test runs, so its weekends
    # and holidays, and with them the trained q99, move from day to day. The q99 printed must be the
    # one the server reported for the run.
    *cells, q99 = row.split()
    *claimed_cells, _example_q99 = claimed_row.split()
    assert cells == claimed_cells == ["All", "connections", "#1", "SUCCESS", "20000", "3"]

    history = namespace["history"]
    assert history[["status", "num_connections", "epochs"]].to_dict("records") == [  # type: ignore[index]
        {"status": "SUCCESS", "num_connections": 20_000, "epochs": 3}
    ]
    reported_q99 = namespace["datasets"].items[0].latest_result.quantile_99  # type: ignore[attr-defined]
    assert reported_q99 > 0
    assert float(q99) == pytest.approx(reported_q99, rel=1e-5)  # as printed: six significant digits
    # It cleaned up after itself: the server stopped and its temporary folder is gone.
    server = namespace["server"]
    assert server.process.poll() is not None  # type: ignore[attr-defined]
    assert not Path(namespace["data_dir"]).exists()  # type: ignore[arg-type]
