"""Accounts: operators and hosts (password login, roles, stream keys); viewers are anonymous."""
