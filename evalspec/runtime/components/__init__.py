"""Components: the models, reducers, parsers, metrics and judges a run uses.

The protocols each kind implements live in `base`; the builtins register
themselves in `evalspec.runtime.registry` when their module is imported.
"""

from evalspec.runtime.components.base import (
    Completion,
    Component,
    Judge,
    JudgeInput,
    Judgment,
    Message,
    Metric,
    Model,
    Params,
    Parser,
    ReduceInput,
    Reducer,
    Request,
    ScoreInput,
)

__all__ = [
    "Completion",
    "Component",
    "Judge",
    "JudgeInput",
    "Judgment",
    "Message",
    "Metric",
    "Model",
    "Params",
    "Parser",
    "ReduceInput",
    "Reducer",
    "Request",
    "ScoreInput",
]
