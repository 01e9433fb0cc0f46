"""The filter language: parsed once into predicate nodes, compiled once to SQL (``language``).
The named fields it reads are in ``app.records.fields``."""
