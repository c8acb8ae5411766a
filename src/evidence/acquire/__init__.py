"""Acquisition: walk sources safely, read archives member by member, hash and store every original, and
keep the custody log. Nothing here parses content."""
