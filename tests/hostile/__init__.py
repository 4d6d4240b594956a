"""Hostile peers: small servers on loopback that play broken or malicious daemons.

One module per protocol. Every case holds a high-level API object to three
bounds: the error is one of ours (a multi-torrent operation reports it in its
Response instead), the call ends within the configured timeout + 1 s, and the
peak RSS grows by less than 100 MB while it runs.
"""
