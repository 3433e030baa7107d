"""The FTS5 index of the stems goes: the ranking index beside the file (storage/search_index.py) matches,
ranks and counts every search, and its term dictionary gives "did you mean" its document frequencies. FTS5
held a second copy of every stem (about a third of the database file) and cost every stored article an insert.
"""

SQL = """
DROP TABLE IF EXISTS articles_vocab;
DROP TABLE IF EXISTS articles_fts;
"""
