"""Actors: the people behind identifiers, from evidence-backed suggestions and analyst decisions only
(DESIGN principle 4)."""
