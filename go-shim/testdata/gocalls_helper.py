"""Importable from testdata: a module name DefineModule must refuse."""
