"""The tetra command language: the only package that imports lark."""

from .ast import Arg, Assignment, Flag, Statement, Symbol, Var, Word
from .parser import parse
from .printer import to_source

__all__ = ["Arg", "Assignment", "Flag", "Statement", "Symbol", "Var", "Word", "parse", "to_source"]
