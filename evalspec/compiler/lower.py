"""Lower parse trees to the IR: resolve names, validate, collect diagnostics.

Every problem in a spec is collected in one pass, sorted by position and
raised together as one SpecError.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.sandbox
from lark import Token, Tree
from pydantic import ValidationError

from evalspec.compiler import ir
from evalspec.compiler.values import Pair, Ref, Span, Value, ValueReader, span_of
from evalspec.errors import ComponentError, EvalSpecError, SpecError
from evalspec.grammar.diagnostics import Diagnostic, Source, suggest
from evalspec.grammar.parser import parse
from evalspec.runtime import registry
from evalspec.runtime.components.base import Kind
from evalspec.runtime.datasets import Dataset

__all__ = ["load_program"]

_SHAREABLE = {"model", "prompt", "judge", "dataset"}
_ROLES = ("system", "user", "assistant")
_BLOCK_KEYS = {
    "experiment": ("description", "seed", "tags"),
    "dataset": ("from", "format", "id", "rename", "limit", "sample", "seed", "case"),
    "generate": ("model", "prompt", "samples"),
    "runtime": ("concurrency", "rate", "retries", "timeout"),
}
_FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".json": "json"}


def load_program(
    text: str, path: str, overrides: Mapping[str, Any] | None = None
) -> ir.Program:
    """Return the IR of the spec `text` read from `path`; raise SpecError."""
    lowerer = _Lowerer(path)
    with _importable(lowerer.spec_dir):
        program = lowerer.lower(text, overrides or {})
    if lowerer.diagnostics or program is None:
        raise SpecError(sorted(lowerer.diagnostics, key=lambda d: d.sort_key))

    return program


@contextmanager
def _importable(directory: Path) -> Iterator[None]:
    """Make modules beside the spec importable while it compiles."""
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        sys.path.remove(entry)


class _Statement:
    """A top-level statement with the reader of the file it came from."""

    def __init__(self, kind: str, tree: Tree[Token], reader: ValueReader) -> None:
        self.kind = kind
        self.tree = tree
        self.reader = reader
        self.span = span_of(tree)

    @property
    def source(self) -> Source:
        return self.reader.source


class _Lowerer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.spec_dir = Path(path).resolve().parent if path != "<spec>" else Path.cwd()
        self.diagnostics: list[Diagnostic] = []
        self.env_names: set[str] = set()
        self.includes: list[str] = []

    # -- reading statements, following includes ---------------------------------

    def lower(self, text: str, overrides: Mapping[str, Any]) -> ir.Program | None:
        statements = list(self._statements(text, self.path, chain=()))
        program = self._build(statements, overrides)
        sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if program is None:
            return None

        return program.model_copy(update={"spec_sha256": sha})

    def _statements(
        self, text: str, path: str, chain: tuple[str, ...]
    ) -> Iterator[_Statement]:
        try:
            parsed = parse(text, path)
        except SpecError as exc:
            self.diagnostics.extend(exc.diagnostics)
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
        target_text = statement.reader.string(statement.tree.children[0].children[0])
        base = Path(path).parent if path != "<spec>" else Path.cwd()
        target = os.path.normpath(base / target_text)
        here = os.path.normpath(path)
        if target in chain + (here,):
            cycle = " -> ".join((*chain, here, target))
            statement.reader.error(statement.span, f"include cycle: {cycle}")
            return
        try:
            text = Path(target).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            statement.reader.error(
                statement.span,
                f"cannot read included file `{target_text}`: {_reason(exc)}",
                help="include paths are relative to the including file",
            )
            return
        self.includes.append(os.path.relpath(target, self.spec_dir).replace("\\", "/"))
        yield from self._statements(text, target, chain + (here,))

    # -- the whole program ------------------------------------------------------

    def _build(
        self, statements: list[_Statement], overrides: Mapping[str, Any]
    ) -> ir.Program | None:
        by_kind: dict[str, list[_Statement]] = {}
        for statement in statements:
            by_kind.setdefault(statement.kind, []).append(statement)
        for kind in ("experiment", "generate", "reduce", "parse", "runtime"):
            for extra in by_kind.get(kind, [])[1:]:
                extra.reader.error(
                    extra.span,
                    f"duplicate `{kind}` statement",
                    help="a spec has at most one; merge them",
                )
        experiment = self._experiment(by_kind.get("experiment", []))
        datasets = self._named(by_kind.get("dataset", []), self._dataset, "dataset")
        models = self._named(by_kind.get("model", []), self._model, "model")
        prompts = self._named(by_kind.get("prompt", []), self._prompt, "prompt")
        generate = self._generate(by_kind.get("generate", []), models, prompts)
        self._check_placeholders(prompts, datasets)
        reduce = self._single_component("reducer", by_kind.get("reduce", []), "first")
        parse_ = self._single_component("parser", by_kind.get("parse", []), "strip")
        scores = [self._component_statement("metric", s) for s in by_kind.get("score", [])]
        self._check_metric_names(scores, by_kind.get("score", []))
        judges = self._named(by_kind.get("judge", []), self._judge(models), "judge")
        runtime = self._runtime(by_kind.get("runtime", []))
        if not datasets:
            self._missing("dataset", "dataset cases { case c1 { input \"2+2\" } }")
        if not scores:
            self._missing("score", "score exact_match { expected answer }")
        if (
            self.diagnostics
            or generate is None
            or reduce is None
            or parse_ is None
            or None in scores
        ):
            return None
        values = {
            "spec_path": self.path,
            "spec_dir": str(self.spec_dir),
            "spec_sha256": "",
            "includes": tuple(self.includes),
            "experiment": experiment,
            "datasets": tuple(datasets.values()),
            "models": tuple(models.values()),
            "prompts": tuple(prompts.values()),
            "generate": generate,
            "reduce": reduce,
            "parse": parse_,
            "scores": tuple(s for s in scores if s is not None),
            "judges": tuple(judges.values()),
            "runtime": runtime,
            "env_names": tuple(sorted(self.env_names)),
        }

        return ir.Program(**values)

    def _missing(self, kind: str, example: str) -> None:
        source = Source(self.path, "")
        self.diagnostics.append(
            Diagnostic(
                file=self.path,
                line=1,
                column=1,
                end_line=1,
                end_column=1,
                message=f"the spec has no `{kind}` statement",
                help=f"add one, for example `{example}`",
                source_line=source.line(1),
            )
        )

    def _named(self, statements: list[_Statement], build: Any, kind: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for statement in statements:
            name_token = statement.tree.children[0]
            name = str(name_token)
            if name in result:
                statement.reader.error(
                    span_of(name_token),
                    f"duplicate {kind} name `{name}`",
                    help=f"rename one of the {kind}s",
                )
                continue
            node = build(statement, name)
            if node is not None:
                result[name] = node

        return result

    # -- experiment, datasets, runtime -------------------------------------------

    def _experiment(self, statements: list[_Statement]) -> ir.ExperimentNode:
        if not statements:
            return ir.ExperimentNode(name=Path(self.path).stem.replace("-", "_"))
        statement = statements[0]
        name = str(statement.tree.children[0])
        pairs = self._pairs(statement, "experiment", statement.tree.children[1])
        values = {
            "description": self._typed(statement, pairs, "description", str, "a string"),
            "seed": self._typed(statement, pairs, "seed", int, "an integer"),
            "tags": self._typed(statement, pairs, "tags", list, "a list of strings"),
        }
        values = {k: v for k, v in values.items() if v is not None}
        if "tags" in values:
            values["tags"] = tuple(str(t.name if isinstance(t, Ref) else t) for t in values["tags"])

        return ir.ExperimentNode(name=name, **values)

    def _pairs(
        self, statement: _Statement, kind: str, block: Tree[Token] | Token
    ) -> dict[str, Pair]:
        """Return a block's pairs by key, reporting unknown and repeated keys."""
        assert isinstance(block, Tree)
        known = _BLOCK_KEYS[kind]
        result: dict[str, Pair] = {}
        for pair in statement.reader.block(block):
            if pair.key not in known:
                near = suggest(pair.key, known)
                statement.reader.error(
                    pair.key_span,
                    f"unknown key `{pair.key}` in `{kind}`",
                    expected="one of " + ", ".join(f"`{k}`" for k in known),
                    help=f"did you mean `{near}`?" if near else None,
                )
            elif pair.key in result and pair.key != "case":
                statement.reader.error(pair.key_span, f"duplicate key `{pair.key}`")
            else:
                result.setdefault(pair.key, pair)
        return result

    def _typed(
        self,
        statement: _Statement,
        pairs: Mapping[str, Pair],
        key: str,
        kind: type,
        expected: str,
    ) -> Any:
        pair = pairs.get(key)
        if pair is None:
            return None
        value = pair.value.value
        if isinstance(value, bool) or not isinstance(value, kind):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            statement.reader.error(
                pair.value.span, f"`{key}` must be {expected}", expected=expected
            )
            return None

        return value

    def _dataset(self, statement: _Statement, name: str) -> ir.DatasetNode | None:
        reader = statement.reader
        block = statement.tree.children[1]
        assert isinstance(block, Tree)
        pairs: dict[str, Pair] = {}
        cases: list[dict[str, Any]] = []
        for pair in reader.block(block):
            if pair.key == "case" and pair.section is not None:
                case_id, entries = pair.section
                record = {"id": case_id}
                for entry in entries:
                    value = entry.value.value
                    record[entry.key] = value.name if isinstance(value, Ref) else value
                cases.append(record)
                continue
        pairs = self._pairs(statement, "dataset", block)
        pairs.pop("case", None)
        source = pairs.get("from")
        if source is not None and cases:
            reader.error(source.key_span, "a dataset has either `from` or `case` entries, not both")
            return None
        options = self._dataset_options(statement, pairs, bool(cases))
        if options is None:
            return None
        span = ir.Span(file=reader.source.path, **_span_fields(statement.span))
        if source is None:
            if not cases:
                reader.error(
                    statement.span,
                    f"dataset `{name}` has no cases",
                    help='add `from "cases.jsonl"` or `case c1 { ... }` entries',
                )
                return None
            dataset = Dataset(name=name, format="inline", records=tuple(cases), **options)
            return self._dataset_node(dataset, None, span, statement, source)
        path_text = source.value.value
        if not isinstance(path_text, str):
            reader.error(source.value.span, "`from` must be a file path string", expected="a string")
            return None
        base = Path(reader.source.path).parent if reader.source.path != "<spec>" else Path.cwd()
        path = (base / path_text).resolve()
        fmt = self._typed(statement, pairs, "format", str, "a string") or _FORMATS.get(path.suffix)
        if fmt not in ("jsonl", "csv", "json"):
            reader.error(
                source.value.span,
                f"cannot tell the format of `{path_text}`",
                help="name files .jsonl, .csv or .json, or add `format \"jsonl\"`",
            )
            return None
        if not path.is_file():
            reader.error(
                source.value.span,
                f"dataset file `{path_text}` not found",
                help="paths are relative to the spec file",
            )
            return None
        dataset = Dataset(name=name, format=fmt, path=path, **options)
        relative = os.path.relpath(path, self.spec_dir).replace(os.sep, "/")

        return self._dataset_node(dataset, relative, span, statement, source)

    def _dataset_options(
        self, statement: _Statement, pairs: Mapping[str, Pair], inline: bool
    ) -> dict[str, Any] | None:
        options: dict[str, Any] = {}
        id_pair = pairs.get("id")
        if id_pair is not None:
            value = id_pair.value.value
            options["id_field"] = value.name if isinstance(value, Ref) else str(value)
        elif inline:
            options["id_field"] = "id"
        rename = self._typed(statement, pairs, "rename", dict, "a map such as { q: \"question\" }")
        if rename:
            options["rename"] = {
                str(k): (v.name if isinstance(v, Ref) else str(v)) for k, v in rename.items()
            }
        for key, target in (("limit", "limit"), ("sample", "sample"), ("seed", "sample_seed")):
            value = self._typed(statement, pairs, key, int, "an integer")
            if value is not None:
                if value < 0:
                    statement.reader.error(pairs[key].value.span, f"`{key}` must not be negative")
                options[target] = value

        return options

    def _dataset_node(
        self,
        dataset: Dataset,
        relative: str | None,
        span: ir.Span,
        statement: _Statement,
        source: Pair | None,
    ) -> ir.DatasetNode | None:
        fields: dict[str, None] = {}
        count = 0
        try:
            for record in dataset.records_iter():
                count += 1
                for key in record:
                    fields.setdefault(key, None)
            fingerprint = dataset.content_fingerprint()
            ids = set()
            for case in dataset.cases():
                if case.id in ids:
                    statement.reader.error(
                        statement.span,
                        f"dataset `{dataset.name}` has two cases with id `{case.id}`",
                        help="case ids must be unique; set `id` to a unique field",
                    )
                    break
                ids.add(case.id)
        except (EvalSpecError, OSError, UnicodeDecodeError, ValueError) as exc:
            where = source.value.span if source else statement.span
            statement.reader.error(where, f"cannot read dataset `{dataset.name}`: {_reason(exc)}")
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
            span=span,
        )

    def _runtime(self, statements: list[_Statement]) -> ir.RuntimeNode:
        if not statements:
            return ir.RuntimeNode()
        statement = statements[0]
        pairs = self._pairs(statement, "runtime", statement.tree.children[0])
        values = {
            "concurrency": self._typed(statement, pairs, "concurrency", int, "an integer"),
            "rate": self._typed(statement, pairs, "rate", float, "requests per minute"),
            "retries": self._typed(statement, pairs, "retries", int, "an integer"),
            "timeout": self._typed(statement, pairs, "timeout", float, "seconds"),
        }

        return ir.RuntimeNode(**{k: v for k, v in values.items() if v is not None})

    # -- models, prompts, generate -------------------------------------------------

    def _model(self, statement: _Statement, name: str) -> ir.ModelNode | None:
        block = statement.tree.children[1]
        assert isinstance(block, Tree)
        pairs = statement.reader.block(block)
        use = next((p for p in pairs if p.key == "use"), None)
        if use is None:
            statement.reader.error(
                statement.span,
                f"model `{name}` does not say which model to `use`",
                help="add `use noisy_oracle`, `use openai` or `use python \"pkg.module:fn\"`",
            )
            return None
        params = [p for p in pairs if p.key != "use"]
        component = self._component(statement, "model", use.value, params, use.value.span)
        if component is None:
            return None

        return ir.ModelNode(name=name, component=component)

    def _prompt(self, statement: _Statement, name: str) -> ir.PromptNode | None:
        body = statement.tree.children[1]
        assert isinstance(body, Tree)
        span = ir.Span(file=statement.source.path, **_span_fields(statement.span))
        if body.data == "string":
            text = statement.reader.string(body.children[0])
            return ir.PromptNode(name=name, messages=(("user", text),), chat=False, span=span)
        messages = []
        for pair in statement.reader.block(body):
            if pair.key not in _ROLES:
                near = suggest(pair.key, _ROLES)
                statement.reader.error(
                    pair.key_span,
                    f"unknown chat role `{pair.key}`",
                    expected="`system`, `user` or `assistant`",
                    help=f"did you mean `{near}`?" if near else None,
                )
            elif not isinstance(pair.value.value, str):
                statement.reader.error(pair.value.span, "a chat turn must be a string", expected="a string")
            else:
                messages.append((pair.key, pair.value.value))
        if not messages:
            statement.reader.error(statement.span, f"prompt `{name}` has no turns")
            return None

        return ir.PromptNode(name=name, messages=tuple(messages), chat=True, span=span)

    def _generate(
        self,
        statements: list[_Statement],
        models: Mapping[str, ir.ModelNode],
        prompts: Mapping[str, ir.PromptNode],
    ) -> ir.GenerateNode | None:
        if not statements:
            self._missing("generate", "generate { model solver  prompt ask  samples 1 }")
            return None
        statement = statements[0]
        pairs = self._pairs(statement, "generate", statement.tree.children[0])
        chosen = {}
        for key, declared in (("model", models), ("prompt", prompts)):
            chosen[key] = self._references(statement, pairs, key, declared)
        samples = self._typed(statement, pairs, "samples", int, "a positive integer")
        if samples is not None and samples < 1:
            statement.reader.error(pairs["samples"].value.span, "`samples` must be at least 1")
        if not chosen["model"] or not chosen["prompt"]:
            return None
        subjects = tuple(
            ir.SubjectNode(name=_subject_name(m, p, chosen), model=m, prompt=p)
            for m in chosen["model"]
            for p in chosen["prompt"]
        )
        span = ir.Span(file=statement.source.path, **_span_fields(statement.span))

        return ir.GenerateNode(subjects=subjects, samples=samples or 1, span=span)

    def _references(
        self,
        statement: _Statement,
        pairs: Mapping[str, Pair],
        key: str,
        declared: Mapping[str, Any],
    ) -> list[str]:
        pair = pairs.get(key)
        if pair is None:
            statement.reader.error(
                statement.span,
                f"`generate` needs a `{key}`",
                help=f"add `{key} NAME` naming a declared {key}",
            )
            return []
        values = pair.value.value
        values = values if isinstance(values, list) else [values]
        names = []
        for value in values:
            if not isinstance(value, Ref):
                statement.reader.error(pair.value.span, f"expected a {key} name", expected=f"a {key} name")
                continue
            if value.name not in declared:
                near = suggest(value.name, declared)
                statement.reader.error(
                    pair.value.span,
                    f"unknown {key} `{value.name}`",
                    expected=f"a {key} name",
                    help=f"did you mean `{near}`?" if near else f"declare it with `{key} {value.name} ...`",
                )
                continue
            names.append(value.name)

        return names

    def _check_placeholders(
        self, prompts: Mapping[str, ir.PromptNode], datasets: Mapping[str, ir.DatasetNode]
    ) -> None:
        environment = jinja2.sandbox.SandboxedEnvironment()
        fields = {f for d in datasets.values() for f in d.fields}
        for prompt in prompts.values():
            source = Source(prompt.span.file, "")
            for _, template in prompt.messages:
                try:
                    names = jinja2.meta.find_undeclared_variables(environment.parse(template))
                except jinja2.TemplateSyntaxError as exc:
                    self._prompt_error(prompt, f"invalid template: {exc.message}", None)
                    continue
                for name in sorted(names - fields):
                    if not datasets:
                        continue
                    near = suggest(name, fields)
                    owners = ", ".join(f"`{d}`" for d in datasets)
                    self._prompt_error(
                        prompt,
                        f"placeholder `{{{{ {name} }}}}` names a field no dataset has",
                        f"did you mean `{near}`?" if near else f"fields of {owners}: " + ", ".join(sorted(fields)),
                    )
            del source

    def _prompt_error(self, prompt: ir.PromptNode, message: str, help_text: str | None) -> None:
        span = prompt.span
        text = Path(span.file).read_text(encoding="utf-8") if Path(span.file).is_file() else ""
        self.diagnostics.append(
            Diagnostic.at(
                Source(span.file, text),
                (span.line, span.column, span.line, span.column + len("prompt")),
                message + f" (in prompt `{prompt.name}`)",
                help=help_text,
            )
        )

    # -- components ---------------------------------------------------------------

    def _single_component(
        self, kind: Kind, statements: list[_Statement], default: str
    ) -> ir.ComponentNode | None:
        if not statements:
            cls = registry.get(kind, default)
            span = ir.Span(file=self.path, line=1, column=1, end_line=1, end_column=1)
            return ir.ComponentNode(
                kind=kind, id=default, version=cls.version, params={},
                module=cls.__module__, qualname=cls.__qualname__, span=span,
            )

        return self._component_statement(kind, statements[0])

    def _component_statement(self, kind: Kind, statement: _Statement) -> ir.ComponentNode | None:
        tree = statement.tree.children[0]
        assert isinstance(tree, Tree)
        head = tree.children[0]
        head_value = statement.reader.value(head)
        params = statement.reader.block(tree.children[1]) if len(tree.children) > 1 else []  # type: ignore[arg-type]

        return self._component(statement, kind, head_value, params, span_of(head))

    def _component(
        self,
        statement: _Statement,
        kind: Kind,
        head: Value,
        pairs: list[Pair],
        span: Span,
    ) -> ir.ComponentNode | None:
        reader = statement.reader
        params: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        if isinstance(head.value, dict) and "$python" in head.value:
            component_id = "python"
            ref = head.value["$python"]
            fingerprint = self._python_fingerprint(reader, ref, head.span, kind)
            if fingerprint is None:
                return None
            params.update(ref=ref, fingerprint=fingerprint)
        elif isinstance(head.value, Ref):
            component_id = head.value.name
        else:
            reader.error(head.span, f"expected a {kind} id", expected=f"a {kind} id or python \"module:attr\"")
            return None
        try:
            cls = registry.get(kind, component_id)
        except ComponentError:
            near = suggest(component_id, registry.ids(kind))
            reader.error(
                head.span,
                f"unknown {kind} `{component_id}`",
                expected=f"a {kind} id",
                help=f"did you mean `{near}`?" if near else "`evalspec components` lists them",
            )
            return None
        fields = cls.Params.model_fields
        for pair in pairs:
            key, value = pair.key, pair.value.value
            if isinstance(value, dict) and "$env" in value:
                self.env_names.add(value["$env"])
                if f"{key}_env" not in fields:
                    reader.error(
                        pair.value.span,
                        f"`{key}` of {kind} `{component_id}` cannot be read from the environment",
                    )
                    continue
                key, value = f"{key}_env", value["$env"]
            if key not in fields:
                near = suggest(key, fields)
                reader.error(
                    pair.key_span,
                    f"unknown parameter `{pair.key}` for {kind} `{component_id}`",
                    expected="one of " + ", ".join(f"`{f}`" for f in fields) if fields else "no parameters",
                    help=f"did you mean `{near}`?" if near else None,
                )
                continue
            if key in params:
                reader.error(pair.key_span, f"duplicate parameter `{pair.key}`")
                continue
            params[key] = _plain(value)
            spans[key] = pair.value.span
        try:
            validated = cls.Params(**params)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else ""
                if error["type"] == "missing":
                    reader.error(
                        span,
                        f"missing required parameter `{name}` for {kind} `{component_id}`",
                        help=f"add `{name} ...` to its block",
                    )
                else:
                    reader.error(
                        spans.get(name, span),
                        f"invalid value for `{name}` of {kind} `{component_id}`: {error['msg'].lower()}",
                    )
            return None
        clean = validated.model_dump(mode="json", exclude_defaults=True)
        clean = {k: clean[k] for k in params if k in clean}
        span_node = ir.Span(file=reader.source.path, **_span_fields(span))

        return ir.ComponentNode(
            kind=kind, id=component_id, version=cls.version, params=clean,
            module=cls.__module__, qualname=cls.__qualname__, span=span_node,
        )

    def _python_fingerprint(
        self, reader: ValueReader, ref: Any, span: Span, kind: str
    ) -> str | None:
        from evalspec.runtime.components import python_ref

        if not isinstance(ref, str) or ":" not in ref:
            reader.error(span, "a Python reference reads \"package.module:attribute\"")
            return None
        try:
            python_ref.resolve_ref(ref)
            return python_ref.source_fingerprint(ref)
        except (ComponentError, ImportError, AttributeError) as exc:
            reader.error(
                span,
                f"cannot import {kind} `{ref}`: {_reason(exc)}",
                help="modules beside the spec file and on PYTHONPATH can be imported",
            )
            return None

    def _judge(self, models: Mapping[str, ir.ModelNode]) -> Any:
        def build(statement: _Statement, name: str) -> ir.JudgeNode | None:
            block = statement.tree.children[1]
            assert isinstance(block, Tree)
            pairs = statement.reader.block(block)
            model_pair = next((p for p in pairs if p.key == "model"), None)
            use = next((p for p in pairs if p.key == "use"), None)
            params = [p for p in pairs if p.key not in ("model", "use")]
            head = use.value if use else Value(Ref("rubric"), statement.span)
            component = self._component(statement, "judge", head, params, head.span)
            if model_pair is None:
                statement.reader.error(
                    statement.span,
                    f"judge `{name}` needs a `model`",
                    help="add `model NAME` naming a declared model",
                )
                return None
            ref = model_pair.value.value
            if not isinstance(ref, Ref) or ref.name not in models:
                label = ref.name if isinstance(ref, Ref) else ref
                near = suggest(str(label), models)
                statement.reader.error(
                    model_pair.value.span,
                    f"unknown model `{label}`",
                    expected="a model name",
                    help=f"did you mean `{near}`?" if near else None,
                )
                return None
            if component is None:
                return None

            return ir.JudgeNode(name=name, model=ref.name, component=component)

        return build

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


def metric_name(node: ir.ComponentNode) -> str:
    """Return the name a metric is reported under."""
    if node.id == "python":
        return str(node.params["ref"]).rpartition(":")[2]

    return node.id


def _subject_name(model: str, prompt: str, chosen: Mapping[str, list[str]]) -> str:
    return f"{model}/{prompt}"


def _plain(value: Any) -> Any:
    """Return `value` with references turned into their names."""
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}

    return value


def _span_fields(span: Span) -> dict[str, int]:
    line, column, end_line, end_column = span

    return {"line": line, "column": column, "end_line": end_line, "end_column": end_column}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()

    return str(exc) or type(exc).__name__
