"""The README's CI example runs as it stands against the reference server: its `run:` script, executed
by bash as GitHub Actions runs it, with `ueba` on PATH and the PRIVX_API_* variables set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import PROJECT_ROOT, secrets_of, server_environment
from ueba_api.models import Dataset, TimeRange, TrainingStatus

README = PROJECT_ROOT / "README.md"
SECTION = "## The command line in a pipeline"


def ci_script() -> str:
    text = README.read_text()
    start = text.index(f"\n{SECTION}\n")
    section = text[start: text.find("\n## ", start + 1)]
    [block] = re.findall(r"^```yaml\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    lines = block.splitlines()
    assert len(lines) <= 10, "the README promises a ten-line example"
    first = next(index for index, line in enumerate(lines) if re.match(r"^-? *run: \|( +#.*)?$", line)) + 1
    indent = len(lines[first]) - len(lines[first].lstrip())
    body = []
    for line in lines[first:]:
        if len(line) - len(line.lstrip()) < indent:
            break
        body.append(line)
    return textwrap.dedent("\n".join(body))


def train(api, dataset: Dataset) -> str:
    dataset_id = api.create_dataset(dataset)
    api.train_dataset(dataset_id)
    deadline = time.monotonic() + 120
    while api.get_dataset(dataset_id).latest_result.status == TrainingStatus.TRAINING:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return dataset_id


@pytest.mark.timeout(300)
def test_the_ci_example_trains_gates_reports_and_keeps_the_artifacts(api, reference_server, tmp_path: Path):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    in_use = train(api, Dataset(time_range_settings=TimeRange(start=now - timedelta(days=80), end=now),
                                comment="The model in use"))
    api.start_analyzing(in_use)  # the baseline the example's gate compares with
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "ueba"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ueba_api "$@"\n')
    shim.chmod(0o755)
    base = {name: value for name, value in os.environ.items() if not name.startswith("PRIVX_API_")}
    environment = base | server_environment(reference_server) | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(PROJECT_ROOT)}
    try:
        # GitHub Actions runs a `run:` script with `bash --noprofile --norc -eo pipefail`.
        completed = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", ci_script()],
                                   cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=280)
        for secret in secrets_of(reference_server):
            assert secret not in completed.stdout + completed.stderr
        assert completed.returncode in (0, 3), completed.stderr
        verdict = json.loads((tmp_path / "out" / "gate.json").read_text())
        assert verdict["passed"] is (completed.returncode == 0)
        assert verdict["baseline"]["dataset_id"] == in_use
        assert (tmp_path / "out" / "model-report.html").stat().st_size > 100_000  # Vega is inlined
        assert sorted(path.suffix for path in (tmp_path / "out" / "charts").iterdir()) == [".png", ".png",
                                                                                         ".svg", ".svg"]
        active = [dataset.id for dataset in api.list_datasets().items if dataset.is_active]
        assert active == ([verdict["dataset_id"]] if verdict["passed"] else [in_use])
    finally:
        api.stop_analyzing()
