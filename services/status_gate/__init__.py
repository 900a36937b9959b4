"""status_gate: establishes who speaks in each status (the topic it was written to is the
speaker's signature) and passes what that kind of party may say on as a claim, for the
router to judge against the complaint's holder."""
