"""After each load: link steps in a declared order (deduplication, mentions, actors, image groups,
corroboration)."""
