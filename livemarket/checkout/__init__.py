"""Catalog, flash deals, stock ledger, orders, payment and QR codes."""
