"""The web page: server-rendered shells that draw from the JSON API (each page's JSON twin)."""
