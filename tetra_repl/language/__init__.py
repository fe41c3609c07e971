"""The tetra command language: the only package that imports lark."""

from .ast import Arg, Assignment, Flag, Statement, Symbol, Var, Word
from .parser import SYMBOL_HINT, SymbolError, parse, parse_assignment, parse_symbol
from .printer import to_source

__all__ = ["Arg", "Assignment", "Flag", "Statement", "Symbol", "Var", "Word", "SYMBOL_HINT",
           "SymbolError", "parse", "parse_assignment", "parse_symbol", "to_source"]
