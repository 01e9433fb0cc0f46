"""The desktop window (PySide6). The only package that imports Qt.

``application`` is the composition root: it builds every part and wires them explicitly.
"""
