"""Text from a spec enters the runner as data: whatever it holds comes back exact.

Specs are written programmatically with arbitrary text in a prompt, a
rubric and a case value; the emitted runner is executed against a SQLite
store, and the text is read back from what the run stored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalspec._runners import load_runner
from evalspec.compiler import compile_text
from evalspec.runtime.stores import SQLiteStore

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_ESCAPES["\0"] = "\\0"

# Pieces that break naive code generation or templating, mixed with any text.
_TRICKY = ['"', "'", "'''", '"""', "\\", "\\n", "\n", "\r\n", "\t", "\x00", "{{", "}}"]
_TRICKY += ["{% if x %}", "%}", "{#", "#}", "é", "中文", "\U0001f600", "\u2028", "\x7f"]
_TRICKY += ["__import__('os')", '"); raise SystemExit("', "# comment", "${x}"]

_ANY = st.characters(blacklist_categories=("Cs",))
text = st.lists(st.one_of(st.sampled_from(_TRICKY), _ANY), max_size=12).map("".join)
# Prompt text around the placeholder is a jinja2 template, so it holds no
# template syntax; jinja2 also reads a bare carriage return as a line break.
template_text = text.map(lambda t: t.replace("{", "(").replace("\r", ""))


def spec_string(value: str) -> str:
    """Return `value` as a plain .evalspec string literal."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif not char.isprintable():
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)

    return '"' + "".join(out) + '"'


def spec(prefix: str, suffix: str, rubric: str, question: str) -> str:
    prompt = spec_string(prefix + "{{ question }}" + suffix)

    return f"""\
dataset qa {{
  case c1 {{ question {spec_string(question)}  answer "1" }}
}}
model mirror {{ use echo }}
model grader {{ use reference_grader }}
prompt ask {prompt}
generate {{ model mirror  prompt ask }}
score contains {{ expected answer }}
judge verdict {{ model grader  rubric {spec_string(rubric)}  reference answer }}
"""


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(prefix=template_text, suffix=template_text, rubric=text, question=text)
def test_spec_text_comes_back_exactly_from_executed_runner(
    prefix: str, suffix: str, rubric: str, question: str
) -> None:
    """Prompt, case value and rubric text reach the model exactly as written."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        compiled = compile_text(spec(prefix, suffix, rubric, question), "safe.evalspec")
        runner = compiled.write(root / "out")
        store = SQLiteStore(root / "store.db")
        try:
            module = load_runner(runner)
            result = module.PIPELINE.run(store)
            (row,) = list(result.rows())
        finally:
            store.close()

    assert compiled.program.datasets[0].records[0]["question"] == question
    assert row["inputs"]["question"] == question
    assert row["candidates"][0] == prefix + question + suffix
    assert module.JUDGE[0].judge.params.rubric == rubric
    # The rubric judge trims whitespace around the rubric it shows.
    assert rubric.strip() in row["judgments"]["verdict"]["prompt"]
