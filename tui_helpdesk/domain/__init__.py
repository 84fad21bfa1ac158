"""The help desk's rules: pure Python, no I/O, no terminal."""
