"""scorelens: where a film's soundtrack plays, what that music is like, and what genre it signals.

A software implementation, and extension, of the system in B. Ma, T. Greer, D. Knox,
S. Narayanan, "A computational lens into how music characterizes genre in film",
PLOS ONE 16(4): e0249957, 2021.
"""

__version__ = "0.1.0"
