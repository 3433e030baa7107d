"""The archive's domain: news pages parsed into `Article` records (encodings, site furniture, dates, HTML),
classified into topics, stemmed for Russian search, the query language users type, ingest of files and
folders, URL canonicalisation and the CSV export. Pure code and CPU work: no Telegram, no SQL."""
