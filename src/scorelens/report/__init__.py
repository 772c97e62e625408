"""Human-readable outputs: cue sheets, tables and plots."""
