"""Lower parse trees to the IR: resolve names, validate, collect diagnostics.

Every problem in a spec is collected in one pass, sorted by position and
raised together as one SpecError.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import jinja2
import jinja2.meta
import jinja2.sandbox
from lark import Token, Tree
from pydantic import ValidationError

from evalspec.compiler import ir
from evalspec.compiler.values import (
    Pair,
    Ref,
    Span,
    Value,
    ValueReader,
    describe,
    plain,
    span_of,
)
from evalspec.errors import EvalSpecError, SpecError
from evalspec.grammar.diagnostics import Diagnostic, Source, did_you_mean
from evalspec.grammar.parser import parse
from evalspec.runtime import registry
from evalspec.runtime.components.base import Kind
from evalspec.runtime.datasets import Dataset, Format

__all__ = ["load_program", "metric_name"]

_SHAREABLE = {"model", "prompt", "judge", "dataset"}
_ROLES = ("system", "user", "assistant")
_BLOCK_KEYS = {
    "experiment": ("description", "seed", "tags"),
    "dataset": ("from", "format", "id", "rename", "limit", "sample", "seed", "case"),
    "generate": ("model", "prompt", "samples"),
    "runtime": ("concurrency", "rate", "retries", "timeout"),
}
_FORMATS: dict[str, Format] = {".jsonl": "jsonl", ".csv": "csv", ".json": "json"}
_SINGLE = ("experiment", "generate", "reduce", "parse", "runtime")
#: Component parameters whose values name case fields.
_FIELD_PARAMS = ("expected", "reference", "answer_field", "fields")
#: Errors reading a dataset file may raise, beyond evalspec's own.
_DATA_ERRORS = (EvalSpecError, OSError, ValueError, TypeError, csv.Error)
_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "`true` or `false`",
    "string": "a string",
    "list": "a list",
    "tuple": "a list",
    "dict": "a map",
}

N = TypeVar("N")


def load_program(
    text: str, path: str, overrides: Mapping[str, Any] | None = None
) -> ir.Program:
    """Return the IR of the spec `text` read from `path`; raise SpecError.

    The spec is lowered as written: `overrides` is accepted for the callers'
    sake, and `evalspec.compiler.overrides.apply_overrides` applies overrides
    to the returned program.
    """
    lowerer = _Lowerer(path, text)
    with _importable(lowerer.spec_dir):
        program = lowerer.lower()
    if lowerer.diagnostics or program is None:
        raise SpecError(sorted(lowerer.diagnostics, key=lambda d: d.sort_key))

    return program


def metric_name(node: ir.ComponentNode) -> str:
    """Return the name a metric is reported under."""
    if node.id == "python":
        return str(node.params["ref"]).rpartition(":")[2]

    return node.id


@contextmanager
def _importable(directory: Path) -> Iterator[None]:
    """Make modules beside the spec importable while it compiles."""
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        sys.path.remove(entry)


@dataclass
class _Statement:
    """A top-level statement with the reader of the file it came from."""

    kind: str
    tree: Tree[Token]
    reader: ValueReader

    @property
    def span(self) -> Span:
        return span_of(self.tree)

    @property
    def source(self) -> Source:
        return self.reader.source

    def child(self, index: int) -> Tree[Token]:
        """Return child `index` of the statement, known to be a tree."""
        node = self.tree.children[index]
        assert isinstance(node, Tree)
        return node

    def ir_span(self, span: Span | None = None) -> ir.Span:
        line, column, end_line, end_column = span or self.span
        return ir.Span(
            file=self.source.path,
            line=line,
            column=column,
            end_line=end_line,
            end_column=end_column,
        )


@dataclass(frozen=True)
class _Turn:
    """A prompt template and where it was written, for placeholder checks."""

    prompt: str
    text: str
    span: Span
    reader: ValueReader


@dataclass(frozen=True)
class _FieldUse:
    """A component parameter naming case fields, for the field check."""

    key: str
    names: tuple[str, ...]
    span: Span
    reader: ValueReader


class _Lowerer:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.spec_dir = Path(path).resolve().parent if path != "<spec>" else Path.cwd()
        self.diagnostics: list[Diagnostic] = []
        self.env_names: set[str] = set()
        self.includes: list[str] = []
        self.turns: list[_Turn] = []
        self.field_uses: list[_FieldUse] = []
        self.declared: dict[str, set[str]] = {}
        self.unparsed = False

    def lower(self) -> ir.Program | None:
        """Return the program, or None when a diagnostic was recorded."""
        statements = list(self._statements(self.text, self.path, chain=()))
        program = self._build(statements)
        if program is None:
            return None
        sha = hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()

        return program.model_copy(update={"spec_sha256": sha})

    def error(self, span: Span, message: str, **extra: Any) -> None:
        """Record a diagnostic about the main spec file."""
        source = Source(self.path, self.text)
        self.diagnostics.append(Diagnostic.at(source, span, message, **extra))

    # -- reading statements, following includes -------------------------------

    def _statements(
        self, text: str, path: str, chain: tuple[str, ...]
    ) -> Iterator[_Statement]:
        try:
            parsed = parse(text, path)
        except SpecError as exc:
            self.diagnostics.extend(exc.diagnostics)
            self.unparsed = True
            return
        reader = ValueReader(parsed.source, self.diagnostics)
        for tree in parsed.tree.children:
            assert isinstance(tree, Tree)
            statement = _Statement(str(tree.data), tree, reader)
            if statement.kind == "include":
                yield from self._include(statement, path, chain)
            elif chain and statement.kind not in _SHAREABLE:
                reader.error(
                    statement.span,
                    f"`{statement.kind}` cannot be shared through `include`",
                    expected="model, prompt, judge or dataset definitions",
                )
            else:
                yield statement

    def _include(
        self, statement: _Statement, path: str, chain: tuple[str, ...]
    ) -> Iterator[_Statement]:
        target_text = statement.reader.string(statement.child(0).children[0])
        base = Path(path).parent if path != "<spec>" else Path.cwd()
        target = os.path.normpath(base / target_text)
        here = os.path.normpath(path)
        if target in (*chain, here):
            cycle = " -> ".join((*chain, here, target))
            statement.reader.error(
                statement.span,
                f"include cycle: {cycle}",
                help="a file may not include itself, directly or through others",
            )
            return
        try:
            text = Path(target).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            statement.reader.error(
                span_of(statement.child(0)),
                f"cannot read included file `{target_text}`: {_reason(exc)}",
                help="include paths are relative to the including file",
            )
            return
        self.includes.append(os.path.relpath(target, self.spec_dir).replace("\\", "/"))
        yield from self._statements(text, target, (*chain, here))

    # -- the whole program ------------------------------------------------------

    def _build(self, statements: list[_Statement]) -> ir.Program | None:
        by_kind: dict[str, list[_Statement]] = {}
        for statement in statements:
            by_kind.setdefault(statement.kind, []).append(statement)
        for kind in _SINGLE:
            for extra in by_kind.get(kind, [])[1:]:
                extra.reader.error(
                    (
                        span_of(extra.tree.children[0])
                        if kind != "experiment"
                        else extra.span
                    ),
                    f"duplicate `{kind}` statement",
                    help="a spec has at most one; merge them",
                )
        experiment = self._experiment(by_kind.get("experiment", []))
        datasets = self._named(by_kind.get("dataset", []), self._dataset, "dataset")
        models = self._named(by_kind.get("model", []), self._model, "model")
        prompts = self._named(by_kind.get("prompt", []), self._prompt, "prompt")
        generate = self._generate(by_kind.get("generate", []), models, prompts)
        reduce = self._default_component("reducer", by_kind.get("reduce", []), "first")
        parse_ = self._default_component("parser", by_kind.get("parse", []), "strip")
        score_statements = by_kind.get("score", [])
        scores = [self._component_statement("metric", s) for s in score_statements]
        self._check_metric_names(scores, score_statements)
        judges = self._named(by_kind.get("judge", []), self._judge(models), "judge")
        runtime = self._runtime(by_kind.get("runtime", []))
        if len(datasets) == len(self.declared.get("dataset", ())):
            self._check_placeholders(datasets)
            self._check_fields(datasets)
        if not datasets and not by_kind.get("dataset"):
            self._missing("dataset", 'dataset cases { case c1 { input "2+2" } }')
        if not score_statements:
            self._missing("score", "score exact_match { expected answer }")
        if self.diagnostics or generate is None or reduce is None or parse_ is None:
            return None

        return ir.Program(
            spec_path=self.path,
            spec_dir=str(self.spec_dir),
            spec_sha256="",
            includes=tuple(self.includes),
            experiment=experiment,
            datasets=tuple(datasets.values()),
            models=tuple(models.values()),
            prompts=tuple(prompts.values()),
            generate=generate,
            reduce=reduce,
            parse=parse_,
            scores=tuple(s for s in scores if s is not None),
            judges=tuple(judges.values()),
            runtime=runtime,
            env_names=tuple(sorted(self.env_names)),
        )

    def _missing(self, kind: str, example: str) -> None:
        """Report a statement the spec lacks, at the end of the file."""
        if self.unparsed:
            # The statement may well be in the part that did not parse.
            return
        self.error(
            Source(self.path, self.text).end_span(),
            f"the spec has no `{kind}` statement",
            help=f"add one, for example `{example}`",
        )

    def _named(
        self,
        statements: list[_Statement],
        build: Callable[[_Statement, str], N | None],
        kind: str,
    ) -> dict[str, N]:
        """Return the nodes `build` makes of named statements, by name."""
        result: dict[str, N] = {}
        seen = self.declared.setdefault(kind, set())
        for statement in statements:
            name_token = statement.tree.children[0]
            name = str(name_token)
            if name in seen:
                statement.reader.error(
                    span_of(name_token),
                    f"duplicate {kind} name `{name}`",
                    help=f"rename one of the {kind}s",
                )
                continue
            seen.add(name)
            node = build(statement, name)
            if node is not None:
                result[name] = node

        return result

    def _pairs(
        self, statement: _Statement, kind: str, pairs: list[Pair]
    ) -> dict[str, Pair]:
        """Return a block's pairs by key, reporting unknown and repeated keys."""
        known = _BLOCK_KEYS[kind]
        result: dict[str, Pair] = {}
        for pair in pairs:
            if pair.key not in known:
                statement.reader.error(
                    pair.key_span,
                    f"unknown key `{pair.key}` in `{kind}`",
                    expected="one of " + ", ".join(f"`{k}`" for k in known),
                    help=did_you_mean(pair.key, known),
                )
            elif pair.key in result and pair.key != "case":
                statement.reader.error(
                    pair.key_span,
                    f"duplicate key `{pair.key}` in `{kind}`",
                    help="each key may appear once in a block",
                )
            else:
                result.setdefault(pair.key, pair)

        return result

    def _typed(
        self, statement: _Statement, pairs: Mapping[str, Pair], key: str, kind: type
    ) -> Any:
        """Return the value of `key` when it has type `kind`, else report it."""
        pair = pairs.get(key)
        if pair is None:
            return None
        value = pair.value.value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, kind):
            expected = _WORDS[kind.__name__]
            statement.reader.error(
                pair.value.span,
                f"`{key}` must be {expected}, not {describe(value)}",
                expected=expected,
            )
            return None

        return value

    # -- experiment, datasets, runtime -----------------------------------------

    def _experiment(self, statements: list[_Statement]) -> ir.ExperimentNode:
        if not statements:
            return ir.ExperimentNode(name=Path(self.path).stem.replace("-", "_"))
        statement = statements[0]
        block = statement.reader.block(statement.child(1))
        pairs = self._pairs(statement, "experiment", block)
        values = {
            "description": self._typed(statement, pairs, "description", str),
            "seed": self._typed(statement, pairs, "seed", int),
            "tags": self._typed(statement, pairs, "tags", list),
        }
        if values["tags"] is not None:
            values["tags"] = tuple(str(tag) for tag in plain(values["tags"]))
        present = {k: v for k, v in values.items() if v is not None}

        return ir.ExperimentNode(name=str(statement.tree.children[0]), **present)

    def _dataset(self, statement: _Statement, name: str) -> ir.DatasetNode | None:
        reader = statement.reader
        entries = reader.block(statement.child(1))
        cases = [_case(p) for p in entries if p.key == "case" and p.section]
        for pair in entries:
            if pair.key == "case" and pair.section is None:
                reader.error(
                    pair.key_span,
                    "`case` needs a name and a block",
                    help='write `case c1 { question "2+2"  answer "4" }`',
                )
        pairs = self._pairs(statement, "dataset", entries)
        pairs.pop("case", None)
        source = pairs.get("from")
        options = self._dataset_options(statement, pairs, inline=source is None)
        if source is not None and cases:
            reader.error(
                source.key_span,
                "a dataset has either `from` or `case` entries, not both",
            )
            return None
        if source is None:
            if not cases:
                reader.error(
                    span_of(statement.tree.children[0]),
                    f"dataset `{name}` has no cases",
                    help='add `from "cases.jsonl"` or `case c1 { ... }` entries',
                )
                return None
            dataset = Dataset(name, "inline", records=tuple(cases), **options)
            return self._dataset_node(dataset, None, statement, None)
        located = self._dataset_file(statement, pairs, source)
        if located is None:
            return None
        path, fmt = located
        dataset = Dataset(name, fmt, path=path, **options)
        relative = os.path.relpath(path, self.spec_dir).replace(os.sep, "/")

        return self._dataset_node(dataset, relative, statement, source)

    def _dataset_file(
        self, statement: _Statement, pairs: Mapping[str, Pair], source: Pair
    ) -> tuple[Path, Format] | None:
        """Return a dataset file's path and format, or report why there is none."""
        reader = statement.reader
        path_text = source.value.value
        if not isinstance(path_text, str):
            reader.error(
                source.value.span,
                f"`from` must be a file path string, not {describe(path_text)}",
                expected="a string",
            )
            return None
        spec_path = reader.source.path
        base = Path(spec_path).parent if spec_path != "<spec>" else Path.cwd()
        try:
            path = (base / path_text).resolve()
            found = path.is_file()
        except (OSError, ValueError):
            path, found = base / "-", False
        fmt = self._typed(statement, pairs, "format", str) or _FORMATS.get(path.suffix)
        if fmt not in ("jsonl", "csv", "json"):
            reader.error(
                source.value.span,
                f"cannot tell the format of `{path_text}`",
                expected='`format "jsonl"`, `format "csv"` or `format "json"`',
                help='name files .jsonl, .csv or .json, or add `format "jsonl"`',
            )
            return None
        if not found:
            reader.error(
                source.value.span,
                f"dataset file `{path_text}` not found",
                help="paths are relative to the spec file",
            )
            return None

        return path, cast(Format, fmt)

    def _dataset_options(
        self, statement: _Statement, pairs: Mapping[str, Pair], inline: bool
    ) -> dict[str, Any]:
        options: dict[str, Any] = {}
        id_pair = pairs.get("id")
        if id_pair is not None:
            options["id_field"] = str(plain(id_pair.value.value))
        elif inline:
            options["id_field"] = "id"
        rename = self._typed(statement, pairs, "rename", dict)
        if rename:
            options["rename"] = {str(k): str(v) for k, v in plain(rename).items()}
        for key, target in (
            ("limit", "limit"),
            ("sample", "sample"),
            ("seed", "sample_seed"),
        ):
            value = self._typed(statement, pairs, key, int)
            if value is not None and value < 0:
                statement.reader.error(
                    pairs[key].value.span, f"`{key}` must not be negative"
                )
            elif value is not None:
                options[target] = value
        if "seed" in pairs and "sample" not in pairs:
            statement.reader.error(
                pairs["seed"].key_span,
                "`seed` in a dataset seeds `sample`, which is missing",
                help="add `sample N` to draw N cases at random",
            )

        return options

    def _dataset_node(
        self,
        dataset: Dataset,
        relative: str | None,
        statement: _Statement,
        source: Pair | None,
    ) -> ir.DatasetNode | None:
        fields: dict[str, None] = {}
        count = 0
        try:
            for record in dataset.records_iter():
                count += 1
                fields.update(dict.fromkeys(record))
            fingerprint = dataset.content_fingerprint()
            duplicate = _duplicate_id(dataset)
        except _DATA_ERRORS as exc:
            where = source.value.span if source else statement.span
            statement.reader.error(
                where, f"cannot read dataset `{dataset.name}`: {_reason(exc)}"
            )
            return None
        if duplicate is not None:
            statement.reader.error(
                span_of(statement.tree.children[0]),
                f"dataset `{dataset.name}` has two cases with id `{duplicate}`",
                help="case ids must be unique; set `id` to a unique field",
            )
            return None

        return ir.DatasetNode(
            name=dataset.name,
            format=dataset.format,
            path=relative,
            records=tuple(dict(r) for r in dataset.records),
            id_field=dataset.id_field,
            rename=dict(dataset.rename),
            limit=dataset.limit,
            sample=dataset.sample,
            sample_seed=dataset.sample_seed,
            fingerprint=fingerprint,
            fields=tuple(fields),
            count=count,
            span=statement.ir_span(),
        )

    def _runtime(self, statements: list[_Statement]) -> ir.RuntimeNode:
        if not statements:
            return ir.RuntimeNode()
        statement = statements[0]
        block = statement.reader.block(statement.child(0))
        pairs = self._pairs(statement, "runtime", block)
        values = {
            "concurrency": self._typed(statement, pairs, "concurrency", int),
            "rate": self._typed(statement, pairs, "rate", float),
            "retries": self._typed(statement, pairs, "retries", int),
            "timeout": self._typed(statement, pairs, "timeout", float),
        }

        return ir.RuntimeNode(**{k: v for k, v in values.items() if v is not None})

    # -- models, prompts, generate ---------------------------------------------

    def _model(self, statement: _Statement, name: str) -> ir.ModelNode | None:
        pairs = statement.reader.block(statement.child(1))
        special = _special(statement, pairs, ("use",))
        use = special.get("use")
        if use is None:
            statement.reader.error(
                span_of(statement.tree.children[0]),
                f"model `{name}` does not say which model to `use`",
                help="add `use noisy_oracle`, `use openai` or `use python ...`",
            )
            return None
        params = [p for p in pairs if p.key != "use"]
        component = self._component(statement, "model", use.value, params)
        if component is None:
            return None

        return ir.ModelNode(name=name, component=component)

    def _prompt(self, statement: _Statement, name: str) -> ir.PromptNode | None:
        body = statement.child(1)
        reader = statement.reader
        if body.data == "string":
            text = reader.string(body.children[0])
            self.turns.append(_Turn(name, text, span_of(body), reader))
            return ir.PromptNode(
                name=name,
                messages=(("user", text),),
                chat=False,
                span=statement.ir_span(),
            )
        messages = []
        for pair in reader.block(body):
            if pair.key not in _ROLES:
                reader.error(
                    pair.key_span,
                    f"unknown chat role `{pair.key}`",
                    expected="`system`, `user` or `assistant`",
                    help=did_you_mean(pair.key, _ROLES),
                )
            elif not isinstance(pair.value.value, str):
                reader.error(
                    pair.value.span,
                    f"a chat turn must be a string, not {describe(pair.value.value)}",
                    expected="a string",
                )
            else:
                messages.append((pair.key, pair.value.value))
                self.turns.append(
                    _Turn(name, pair.value.value, pair.value.span, reader)
                )
        if not messages:
            reader.error(
                span_of(statement.tree.children[0]),
                f"prompt `{name}` has no turns",
                help='add `user "..."`, after an optional `system "..."`',
            )
            return None

        return ir.PromptNode(
            name=name, messages=tuple(messages), chat=True, span=statement.ir_span()
        )

    def _generate(
        self,
        statements: list[_Statement],
        models: Mapping[str, ir.ModelNode],
        prompts: Mapping[str, ir.PromptNode],
    ) -> ir.GenerateNode | None:
        if not statements:
            self._missing("generate", "generate { model solver  prompt ask }")
            return None
        statement = statements[0]
        block = statement.reader.block(statement.child(0))
        pairs = self._pairs(statement, "generate", block)
        chosen = {
            "model": self._references(statement, pairs, "model"),
            "prompt": self._references(statement, pairs, "prompt"),
        }
        samples = self._typed(statement, pairs, "samples", int)
        if samples is not None and samples < 1:
            statement.reader.error(
                pairs["samples"].value.span, "`samples` must be at least 1"
            )
        if not chosen["model"] or not chosen["prompt"]:
            return None
        subjects = tuple(
            ir.SubjectNode(name=f"{m}/{p}", model=m, prompt=p)
            for m in chosen["model"]
            for p in chosen["prompt"]
        )

        return ir.GenerateNode(
            subjects=subjects, samples=samples or 1, span=statement.ir_span()
        )

    def _references(
        self,
        statement: _Statement,
        pairs: Mapping[str, Pair],
        key: str,
    ) -> list[str]:
        """Return the declared names `key` lists, reporting unknown ones."""
        pair = pairs.get(key)
        if pair is None:
            statement.reader.error(
                span_of(statement.tree.children[0]),
                f"`generate` needs a `{key}`",
                help=f"add `{key} NAME` naming a declared {key}",
            )
            return []
        items = pair.value.items or (pair.value,)
        names = []
        for item in items:
            value = item.value
            if not isinstance(value, Ref):
                statement.reader.error(
                    item.span,
                    f"`{key}` must name a {key}, not {describe(value)}",
                    expected=f"a {key} name, or a list of them",
                )
            elif self._known(
                statement.reader, value.name, item.span, key, self.declared[key]
            ):
                names.append(value.name)

        return names

    def _known(
        self, reader: ValueReader, name: str, span: Span, kind: str, declared: Any
    ) -> bool:
        """Say whether `name` is declared; report it when it is not."""
        if name in declared:
            return True
        reader.error(
            span,
            f"unknown {kind} `{name}`",
            expected=f"a {kind} name",
            help=did_you_mean(name, declared) or f"declare it with `{kind} {name} ...`",
        )

        return False

    # -- checks across statements ----------------------------------------------

    def _check_placeholders(self, datasets: Mapping[str, ir.DatasetNode]) -> None:
        """Report prompt placeholders that name a field some dataset lacks."""
        if not datasets:
            return
        environment = jinja2.sandbox.SandboxedEnvironment()
        for turn in self.turns:
            try:
                names = jinja2.meta.find_undeclared_variables(
                    environment.parse(turn.text)
                )
            except jinja2.TemplateError as exc:
                message = f"invalid template in prompt `{turn.prompt}`: {exc.message}"
                turn.reader.error(turn.span, message.lower())
                continue
            for name in sorted(names):
                lacking = [d for d in datasets.values() if name not in d.fields]
                if lacking:
                    self._placeholder_error(turn, name, lacking, len(datasets))

    def _placeholder_error(
        self, turn: _Turn, name: str, lacking: list[ir.DatasetNode], total: int
    ) -> None:
        span = _placeholder_span(turn, name)
        fields = sorted({f for d in lacking for f in d.fields})
        if len(lacking) == total:
            message = f"placeholder `{{{{ {name} }}}}` names a field no dataset has"
        else:
            message = (
                f"placeholder `{{{{ {name} }}}}` names a field that dataset "
                f"`{lacking[0].name}` does not have"
            )
        owners = ", ".join(f"`{d.name}`" for d in lacking)
        turn.reader.error(
            span,
            message,
            expected=f"a field of {owners}: " + _listing(fields),
            help=did_you_mean(name, fields),
        )

    def _check_fields(self, datasets: Mapping[str, ir.DatasetNode]) -> None:
        """Report component parameters that name a field no dataset has."""
        fields = {f for d in datasets.values() for f in d.fields}
        if not datasets:
            return
        for use in self.field_uses:
            for name in (n for n in use.names if n not in fields):
                owners = ", ".join(f"`{d}`" for d in datasets)
                use.reader.error(
                    use.span,
                    f"`{use.key}` names field `{name}`, which no dataset has",
                    expected=f"a field of {owners}: " + _listing(sorted(fields)),
                    help=did_you_mean(name, fields),
                )

    def _check_metric_names(
        self, scores: list[ir.ComponentNode | None], statements: list[_Statement]
    ) -> None:
        seen: set[str] = set()
        for node, statement in zip(scores, statements, strict=True):
            if node is None:
                continue
            name = metric_name(node)
            if name in seen:
                statement.reader.error(
                    statement.span,
                    f"metric `{name}` is scored twice",
                    help="give each metric different parameters or remove one",
                )
            seen.add(name)

    # -- components -------------------------------------------------------------

    def _default_component(
        self, kind: Kind, statements: list[_Statement], default: str
    ) -> ir.ComponentNode | None:
        """Return the component of a single statement, or the `default` id."""
        if statements:
            return self._component_statement(kind, statements[0])
        cls = registry.get(kind, default)

        return ir.ComponentNode(
            kind=kind,
            id=default,
            version=cls.version,
            params={},
            module=cls.__module__,
            qualname=cls.__qualname__,
            span=ir.Span(file=self.path, line=1, column=1, end_line=1, end_column=1),
        )

    def _component_statement(
        self, kind: Kind, statement: _Statement
    ) -> ir.ComponentNode | None:
        tree = statement.child(0)
        head = statement.reader.value(tree.children[0])
        body = tree.children[1] if len(tree.children) > 1 else None
        pairs = statement.reader.block(body) if isinstance(body, Tree) else []

        return self._component(statement, kind, head, pairs)

    def _component(
        self, statement: _Statement, kind: Kind, head: Value, pairs: list[Pair]
    ) -> ir.ComponentNode | None:
        """Return a validated component, or report everything wrong with it."""
        reader = statement.reader
        resolved = self._component_id(reader, kind, head)
        if resolved is None:
            return None
        component_id, params = resolved
        cls = registry.get(kind, component_id)
        spans: dict[str, Span] = {}
        for pair in pairs:
            entry = self._param(
                reader, kind, component_id, pair, cls.Params.model_fields
            )
            if entry is None:
                continue
            if entry[0] in params:
                reader.error(
                    pair.key_span,
                    f"duplicate parameter `{pair.key}` for {kind} `{component_id}`",
                    help="each parameter may be given once",
                )
                continue
            params[entry[0]] = entry[1]
            spans[entry[0]] = pair.value.span
        try:
            validated = cls.Params(**params)
        except ValidationError as exc:
            self._invalid(reader, f"{kind} `{component_id}`", exc, spans, head.span)
            return None
        except (ValueError, TypeError) as exc:
            reader.error(
                head.span, f"invalid parameters for {kind} `{component_id}`: {exc}"
            )
            return None
        self._note_fields(reader, params, spans)
        dumped = validated.model_dump(mode="json", exclude_defaults=True)

        return ir.ComponentNode(
            kind=kind,
            id=component_id,
            version=cls.version,
            params={k: dumped[k] for k in params if k in dumped},
            module=cls.__module__,
            qualname=cls.__qualname__,
            span=statement.ir_span(head.span),
        )

    def _component_id(
        self, reader: ValueReader, kind: Kind, head: Value
    ) -> tuple[str, dict[str, Any]] | None:
        """Return a component's registry id and the parameters its head implies."""
        value = head.value
        if isinstance(value, dict) and "$python" in value:
            ref = value["$python"]
            fingerprint = self._python_fingerprint(reader, ref, head.span, kind)
            if fingerprint is None:
                return None
            return "python", {"ref": ref, "fingerprint": fingerprint}
        if not isinstance(value, Ref):
            reader.error(
                head.span,
                f"expected a {kind} id, not {describe(value)}",
                expected=f'a {kind} id, or `python "module:attr"`',
            )
            return None
        known = registry.ids(kind)
        if value.name not in known:
            reader.error(
                head.span,
                f"unknown {kind} `{value.name}`",
                expected=f"a {kind} id: " + _listing(sorted(known)),
                help=did_you_mean(value.name, known),
            )
            return None

        return value.name, {}

    def _param(
        self,
        reader: ValueReader,
        kind: Kind,
        component_id: str,
        pair: Pair,
        fields: Mapping[str, Any],
    ) -> tuple[str, Any] | None:
        """Return a parameter's name and value, or report it as unknown."""
        key, value = pair.key, pair.value.value
        if isinstance(value, dict) and "$env" in value:
            self.env_names.add(str(value["$env"]))
            if f"{key}_env" in fields:
                return f"{key}_env", value["$env"]
            reader.error(
                pair.value.span,
                f"`{key}` of {kind} `{component_id}` cannot come from the environment",
                help="only secrets such as `api_key` are read with `env(...)`",
            )
            return None
        if key not in fields:
            reader.error(
                pair.key_span,
                f"unknown parameter `{key}` for {kind} `{component_id}`",
                expected=(
                    _listing([f"`{f}`" for f in fields]) if fields else "no parameters"
                ),
                help=did_you_mean(key, fields),
            )
            return None

        return key, plain(value)

    def _invalid(
        self,
        reader: ValueReader,
        what: str,
        exc: ValidationError,
        spans: Mapping[str, Span],
        head: Span,
    ) -> None:
        """Report each parameter pydantic rejected, at the value it rejected."""
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            if error["type"] == "missing":
                reader.error(
                    head,
                    f"missing required parameter `{name}` for {what}",
                    help=f"add `{name} ...` to its block",
                )
                continue
            message = str(error["msg"]).removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
            reader.error(
                spans.get(name, head),
                f"invalid value for `{name}` of {what}: {message}",
                expected=_WORDS.get(str(error["type"]).split("_")[0]),
            )

    def _note_fields(
        self, reader: ValueReader, params: Mapping[str, Any], spans: Mapping[str, Span]
    ) -> None:
        for key in _FIELD_PARAMS:
            value = params.get(key)
            names = value if isinstance(value, list) else [value]
            if key in spans and all(isinstance(n, str) for n in names):
                use = _FieldUse(key, tuple(str(n) for n in names), spans[key], reader)
                self.field_uses.append(use)

    def _python_fingerprint(
        self, reader: ValueReader, ref: Any, span: Span, kind: str
    ) -> str | None:
        from evalspec.runtime.components import python_ref

        if not isinstance(ref, str) or ":" not in ref:
            reader.error(
                span,
                'a Python reference reads "package.module:attribute"',
                help='for a module beside the spec, write `python "module:function"`',
            )
            return None
        try:
            python_ref.resolve_ref(ref)
            return python_ref.source_fingerprint(ref)
        except Exception as exc:  # importing the user's module may fail in any way
            reader.error(
                span,
                f"cannot import {kind} `{ref}`: {_reason(exc)}",
                help="modules beside the spec file and on PYTHONPATH can be imported",
            )
            return None

    def _judge(
        self, models: Mapping[str, ir.ModelNode]
    ) -> Callable[[_Statement, str], ir.JudgeNode | None]:
        def build(statement: _Statement, name: str) -> ir.JudgeNode | None:
            reader = statement.reader
            pairs = reader.block(statement.child(1))
            special = _special(statement, pairs, ("model", "use"))
            name_span = span_of(statement.tree.children[0])
            use = special.get("use")
            head = use.value if use else Value(Ref("rubric"), name_span)
            params = [p for p in pairs if p.key not in special]
            component = self._component(statement, "judge", head, params)
            model = special.get("model")
            if model is None:
                reader.error(
                    name_span,
                    f"judge `{name}` needs a `model`",
                    help="add `model NAME` naming a declared model",
                )
                return None
            ref = model.value.value
            if not isinstance(ref, Ref):
                reader.error(
                    model.value.span,
                    f"`model` must name a model, not {describe(ref)}",
                    expected="a model name",
                )
                return None
            if not self._known(
                reader, ref.name, model.value.span, "model", self.declared["model"]
            ):
                return None
            if component is None or ref.name not in models:
                return None

            return ir.JudgeNode(name=name, model=ref.name, component=component)

        return build


def _special(
    statement: _Statement, pairs: list[Pair], keys: tuple[str, ...]
) -> dict[str, Pair]:
    """Return the first pair of each of `keys`, reporting repeats."""
    found: dict[str, Pair] = {}
    for pair in pairs:
        if pair.key not in keys:
            continue
        if pair.key in found:
            statement.reader.error(
                pair.key_span,
                f"duplicate key `{pair.key}` in `{statement.kind}`",
                help="each key may appear once in a block",
            )
            continue
        found[pair.key] = pair

    return found


def _case(pair: Pair) -> dict[str, Any]:
    """Return the record of an inline `case NAME { ... }` section."""
    assert pair.section is not None
    case_id, entries = pair.section
    record: dict[str, Any] = {"id": case_id}
    record.update((entry.key, plain(entry.value.value)) for entry in entries)

    return record


def _duplicate_id(dataset: Dataset) -> str | None:
    """Return a case id that two of the dataset's cases share, if any."""
    seen: set[str] = set()
    for case in dataset.cases():
        if case.id in seen:
            return case.id
        seen.add(case.id)

    return None


def _placeholder_span(turn: _Turn, name: str) -> Span:
    """Return the span of the placeholder `name` inside a template's string."""
    source = turn.reader.source
    line, column, end_line, end_column = turn.span
    start, end = source.offset(line, column), source.offset(end_line, end_column)
    pattern = r"\{\{-?\s*" + re.escape(name) + r"\b[^\n{}]*\}\}"
    match = re.compile(pattern).search(source.text, start, end)
    if match is None:
        return turn.span

    return (*source.position(match.start()), *source.position(match.end()))


def _listing(names: list[str]) -> str:
    """Return `names` joined with commas, the tail cut after ten."""
    shown = ", ".join(names[:10])

    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()

    return str(exc) or type(exc).__name__
