"""The shared core of the cloud PMS adapters (Mews, Apaleo, Cloudbeds).

``http`` (one paced session per PMS, ``Retry-After``, token renewal, the error tree in
``errors``), ``tokens`` (API keys, OAuth client credentials), ``client`` (what a vendor
client provides), ``stays`` (fetch-and-diff against the ledger's rooms), ``receiver`` (the
thin webhook), ``postings`` (charges on the folio), ``adapter`` (push, pull and resync on one
worker) and ``commands`` (``pmsbridge pms status``).
"""
