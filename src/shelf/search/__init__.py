"""Product search: lexical and semantic retrieval, query understanding, learned re-ranking."""
