"""disposition: an agency's own rules give its new complaints to its units (unit kerja, OPD)
before its admin has to, as a `disposed` status marked with its rule, on the stage's own
topic (disposition.auto.v1)."""
