"""The intermediate representation: frozen pydantic nodes made from a spec.

Parameter values are plain JSON values, with three tagged forms:
``{"$env": "NAME"}`` for `env("NAME")`, ``{"$python": "mod:attr"}`` for
`python "mod:attr"`, and a two-item list for a range `1 to 5`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ComponentNode",
    "DatasetNode",
    "ExperimentNode",
    "GenerateNode",
    "JudgeNode",
    "ModelNode",
    "Node",
    "Program",
    "PromptNode",
    "RuntimeNode",
    "Span",
    "SubjectNode",
]


class Node(BaseModel):
    """Base of every IR node: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Span(Node):
    """Where a node came from: file and 1-based line/column range."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


class ComponentNode(Node):
    """A component reference: registry id, version and validated parameters."""

    kind: Literal["model", "reducer", "parser", "metric", "judge"]
    id: str
    """The registry id, e.g. ``majority_vote``; ``python`` for Python refs."""
    version: str
    params: dict[str, Any]
    """Parameters as written, after validation; env values hold names only."""
    module: str
    """The module that defines the component class (for the runner's imports)."""
    qualname: str
    """The component class's name in `module`."""
    span: Span


class ExperimentNode(Node):
    """The `experiment` block."""

    name: str
    description: str = ""
    seed: int = 0
    tags: tuple[str, ...] = ()


class DatasetNode(Node):
    """A dataset: inline records or a file, and which records make its cases."""

    name: str
    format: Literal["inline", "jsonl", "csv", "json"]
    path: str | None = None
    """The file path relative to the spec's directory, in POSIX form."""
    records: tuple[dict[str, Any], ...] = ()
    id_field: str | None = None
    rename: dict[str, str] = {}
    limit: int | None = None
    sample: int | None = None
    sample_seed: int = 0
    fingerprint: str
    """The sha256 of the dataset's content."""
    fields: tuple[str, ...] = ()
    """Every field name a record has, after renames."""
    count: int = 0
    """How many records the source holds, before selection."""
    span: Span


class ModelNode(Node):
    """A named model: its component."""

    name: str
    component: ComponentNode


class PromptNode(Node):
    """A named prompt: one user message, or chat turns in order."""

    name: str
    messages: tuple[tuple[str, str], ...]
    """(role, template) pairs; roles are system, user and assistant."""
    chat: bool
    span: Span


class SubjectNode(Node):
    """One (model, prompt) pair of the generate matrix."""

    name: str
    model: str
    prompt: str


class GenerateNode(Node):
    """The `generate` block: the subject matrix and the sample count."""

    subjects: tuple[SubjectNode, ...]
    samples: int = 1
    span: Span


class JudgeNode(Node):
    """A named judge: its judge model and judge component."""

    name: str
    model: str
    component: ComponentNode


class RuntimeNode(Node):
    """Runtime settings: they shape how a run executes, never what it means."""

    concurrency: int = 16
    rate: float | None = None
    """Requests per minute per provider, or no limit."""
    retries: int = 4
    timeout: float | None = None
    stage_concurrency: dict[str, int] = {}
    """Calls in flight at once per stage (``generate``, ``judge``)."""
    providers: dict[str, int] = {}
    """Calls in flight at once per provider name (``openai``, ``openai:host:port``)."""


class Program(Node):
    """A whole compiled spec."""

    spec_path: str
    """The spec's path as given, relative to the working directory when it can be."""
    spec_dir: str
    spec_sha256: str
    includes: tuple[str, ...] = ()
    experiment: ExperimentNode
    datasets: tuple[DatasetNode, ...]
    models: tuple[ModelNode, ...]
    prompts: tuple[PromptNode, ...]
    generate: GenerateNode
    reduce: ComponentNode
    parse: ComponentNode
    scores: tuple[ComponentNode, ...]
    judges: tuple[JudgeNode, ...] = ()
    runtime: RuntimeNode = RuntimeNode()
    env_names: tuple[str, ...] = ()
    """Names of the environment variables the spec reads (never their values)."""

    def model(self, name: str) -> ModelNode:
        """Return the model named `name`."""
        return next(m for m in self.models if m.name == name)

    def prompt(self, name: str) -> PromptNode:
        """Return the prompt named `name`."""
        return next(p for p in self.prompts if p.name == name)
