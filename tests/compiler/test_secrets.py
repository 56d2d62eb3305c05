"""A secret read through `env(...)` never reaches a written byte.

The spec names an API key's variable; the run reads its value, fails to
connect, and records the failure. The runner, its snapshot, the SQLite store
(with its WAL), a DEBUG log and the console output are then searched for
the value.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from evalspec._runners import load_runner
from evalspec.compiler import compile_text
from evalspec.runtime.stores import SQLiteStore

SPEC = """\
dataset qa {
  case c1 { question "2+2"  answer "4" }
  case c2 { question "3+3"  answer "6" }
}
model m {
  use openai
  name "x"
  base_url "http://127.0.0.1:9"
  api_key env("MY_KEY")
}
prompt p "{{ question }}"
generate { model m  prompt p }
score exact_match { expected answer }
judge j { model m  rubric "Right?" }
runtime { retries 0  timeout 5 }
"""


def written_bytes(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_env_secret_reaches_no_runner_snapshot_store_or_log(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The key's value appears in no file the run wrote and in no output."""
    secret = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("MY_KEY", secret)
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root_logger = logging.getLogger()
    monkeypatch.setattr(root_logger, "level", logging.DEBUG)
    root_logger.addHandler(handler)
    compiled = compile_text(SPEC, str(tmp_path / "secret.evalspec"))
    runner = compiled.write(tmp_path / "out")
    store = SQLiteStore(tmp_path / "store.db")
    try:
        result = load_runner(runner).PIPELINE.run(store)
        while_open = written_bytes(tmp_path)
        rows = list(result.rows())
    finally:
        store.close()
        root_logger.removeHandler(handler)
        handler.close()
    after_close = written_bytes(tmp_path)
    output = capfd.readouterr()
    needle = secret.encode()

    assert result.summary()["stages"]["generate"]["failed"] == 2
    assert any(path.name.endswith("-wal") for path in while_open)
    assert log_file.stat().st_size > 0
    assert rows and all(row["errors"] for row in rows)
    assert [p.name for p, data in while_open.items() if needle in data] == []
    assert [p.name for p, data in after_close.items() if needle in data] == []
    assert secret not in output.out + output.err
    assert "MY_KEY" in compiled.snapshot.provenance["env"]
