"""Seeded reference data for the generator: product catalogue, users' places, names and e-mails.

Pure Python and deterministic for a given seed or random.Random; no database and no download.
"""
