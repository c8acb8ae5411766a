"""What readers get out of a case: the timeline (and, later, reports and exports)."""
