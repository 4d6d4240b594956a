"""The pure domain: torrents, responses, errors and warnings, URLs, sources. No I/O here."""
