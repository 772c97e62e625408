"""The version of scorelens: a leaf module, so that no module needs to import the package top for it."""

__version__ = "0.3.0"
