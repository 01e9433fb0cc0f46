"""The filter language: ``lexer`` (tokens, quoting), ``nodes`` (each predicate's SQL and Python
meaning), ``parser`` (text to a Filter: ``parse``, ``FilterError``) and ``planner`` (the Filter:
run on the index and on the records not indexed yet). The named fields it reads are in
``app.records.fields``."""
