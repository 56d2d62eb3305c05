"""The evalspec runtime: everything an emitted runner needs, and nothing more.

The runtime never imports the compiler: a runner module runs with the
runtime alone.
"""

from evalspec.runtime import cli, datasets
from evalspec.runtime.pipeline import Pipeline, Plan
from evalspec.runtime.result import RunResult
from evalspec.runtime.stages import (
    STAGES,
    Generate,
    JudgeStep,
    Prompt,
    Runtime,
    Subject,
)
from evalspec.runtime.stores import MemoryStore, SQLiteStore, Store, open_store

__all__ = [
    "Generate",
    "JudgeStep",
    "MemoryStore",
    "Pipeline",
    "Plan",
    "Prompt",
    "RunResult",
    "Runtime",
    "SQLiteStore",
    "STAGES",
    "Store",
    "Subject",
    "cli",
    "datasets",
    "open_store",
]
