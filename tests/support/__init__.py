"""Test support, not product code: `diemcau serve` in a subprocess (serveprocess.py, for the
browser tests and bench/), aiortc publishers and subscribers (peers.py, for the
integration tests and bench/), and small Office files and PDFs (officefiles.py, for the
upload tests)."""
