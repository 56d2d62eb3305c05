"""The grammar: .evalspec text to a parse tree, diagnostics, and canonical form."""

from __future__ import annotations

from evalspec.grammar.diagnostics import Diagnostic, Source, Span, did_you_mean, suggest
from evalspec.grammar.formatter import format_diff, format_spec
from evalspec.grammar.parser import STATEMENTS, ParsedSpec, parse

__all__ = [
    "Diagnostic",
    "ParsedSpec",
    "STATEMENTS",
    "Source",
    "Span",
    "did_you_mean",
    "format_diff",
    "format_spec",
    "parse",
    "suggest",
]
