"""After each load: link steps in a declared order (deduplication, actors, image groups,
corroboration)."""
